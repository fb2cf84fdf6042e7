"""Each event encoded once into both streams' bytes, with the key that lets a lagging client conflate."""

from __future__ import annotations

import json

from app.domain.events import Change, Event
from app.domain.model import ActivityAdded, AlertRaised, AlertResolved, Fact, Level, MetricUpdated, Severity
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer
from tests.support.sse_client import Parser


def test_only_later_updates_of_a_card_carry_its_key(renderer: Renderer) -> None:
    """The first event of a card adds it to the grid, so no later update may replace it."""
    frames = FrameEncoder(renderer)
    fact = MetricUpdated("cpu", 2.0, 5.0)
    created = frames.encode(Event("1-1", fact), Change(True))
    updated = frames.encode(Event("1-2", fact), Change(False, 1.0))
    assert (created.id, created.key) == ("1-1", None)
    assert (updated.id, updated.key) == ("1-2", "cpu")


def test_activity_and_alerts_are_never_conflated(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer)
    facts: list[tuple[Fact, bool]] = [
        (ActivityAdded("k", "hi", None, Level.info, 1.0), True),
        (AlertRaised("db", Severity.warning, "slow", None, 1.0), True),
        (AlertRaised("db", Severity.critical, "down", None, 2.0), False),
        (AlertResolved("db", 3.0), True),
    ]
    for seq, (fact, created) in enumerate(facts, 1):
        assert frames.encode(Event(f"1-{seq}", fact), Change(created)).key is None, fact


def test_card_frames_render_the_value_given_with_its_trend(renderer: Renderer) -> None:
    """The value it replaced comes with the event (not from the state), so history from a
    backend renders the same way."""
    frames = FrameEncoder(renderer)
    entry = frames.encode(Event("4-2", MetricUpdated("cpu", 2.0, 5.0)), Change(False, 3.0))
    [html] = Parser().feed(entry.html.decode())
    [data] = Parser().feed(entry.json.decode())
    assert (html.event, html.id) == ("metric-cpu", "4-2")
    assert 'data-trend="down"' in html.data and 'data-value="2"' in html.data
    assert (data.event, data.id) == ("metric-update", "4-2")
    assert json.loads(data.data) == {"metric": "cpu", "value": 2, "ts": 5.0}


def test_a_new_card_and_a_new_alert_are_named_for_the_container_that_adds_them(renderer: Renderer) -> None:
    """A first event has no element of its own yet: the grid or the alerts region swaps it in."""
    frames = FrameEncoder(renderer)
    facts: list[tuple[Fact, bool]] = [
        (MetricUpdated("cpu", 1.0, 1.0), True),
        (MetricUpdated("cpu", 2.0, 2.0), False),
        (AlertRaised("db", Severity.warning, "slow", None, 1.0), True),
        (AlertRaised("db", Severity.critical, "down", None, 2.0), False),
        (AlertResolved("db", 3.0), True),
        (ActivityAdded("k", "hi", None, Level.info, 1.0), True),
    ]
    names = [
        Parser().feed(frames.encode(Event(f"1-{seq}", fact), Change(created)).html.decode())[0].event
        for seq, (fact, created) in enumerate(facts, 1)
    ]
    assert names == ["new-metric", "metric-cpu", "new-alert", "alert-db", "resolved-alert", "activity"]


def test_the_json_frame_of_an_event_is_its_payload_named_and_numbered(renderer: Renderer) -> None:
    entry = FrameEncoder(renderer).encode(Event("2-9", AlertResolved("db", 3.0)), Change(True))
    assert (entry.id, entry.key) == ("2-9", None)
    assert entry.json == b'event: alert-resolved\nid: 2-9\ndata: {"id":"db","ts":3.0}\n\n'
    assert [(e.event, e.id) for e in Parser().feed(entry.html.decode())] == [("resolved-alert", "2-9")]

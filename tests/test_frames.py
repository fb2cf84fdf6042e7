"""Each event encoded once into both streams' bytes, with the key that lets a lagging client conflate."""

from __future__ import annotations

import json

from app.streaming.frames import FrameEncoder
from app.domain.model import ActivityAdded, AlertRaised, AlertResolved, Fact, Level, MetricUpdated, Severity
from app.streaming.render import Renderer
from app.domain.state import MetricValue
from tests.support.sse_client import Parser


def test_only_later_updates_of_a_card_carry_its_key(renderer: Renderer) -> None:
    """The first event of a card adds it to the grid, so no later update may replace it."""
    frames = FrameEncoder(renderer)
    fact = MetricUpdated("cpu", 2.0, 5.0)
    created = frames.encode("1-1", fact, True, MetricValue("cpu", 2.0, 5.0))
    updated = frames.encode("1-2", fact, False, MetricValue("cpu", 2.0, 5.0, 1.0))
    assert created.key is None
    assert updated.key == "cpu"


def test_activity_and_alerts_are_never_conflated(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer)
    facts: list[tuple[Fact, bool]] = [
        (ActivityAdded("k", "hi", None, Level.info, 1.0), True),
        (AlertRaised("db", Severity.warning, "slow", None, 1.0), True),
        (AlertRaised("db", Severity.critical, "down", None, 2.0), False),
        (AlertResolved("db", 3.0), True),
    ]
    for seq, (fact, created) in enumerate(facts, 1):
        assert frames.encode(f"1-{seq}", fact, created, None).key is None, fact


def test_card_frames_render_the_value_given_with_its_trend(renderer: Renderer) -> None:
    """The value is passed in (not looked up), so history from a backend renders the same way."""
    frames = FrameEncoder(renderer)
    entry = frames.encode("4-2", MetricUpdated("cpu", 2.0, 5.0), False, MetricValue("cpu", 2.0, 5.0, 3.0))
    [html] = Parser().feed(entry.html.decode())
    [data] = Parser().feed(entry.json.decode())
    assert (html.event, html.id) == ("metric-cpu", "4-2")
    assert 'data-trend="down"' in html.data and 'data-value="2"' in html.data
    assert (data.event, data.id) == ("metric-update", "4-2")
    assert json.loads(data.data) == {"metric": "cpu", "value": 2, "ts": 5.0}

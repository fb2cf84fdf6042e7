"""Each event encoded once into both streams' bytes, with the key that lets a lagging client conflate."""

from __future__ import annotations

import json

import pytest

from app.domain.board import Board, Card, decode_board
from app.domain.events import Change, Entry, Event
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    Level,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
    Severity,
)
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer
from tests.support.sse_client import Event as ServerSentEvent
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


BOARD = decode_board(
    """
[[sections]]
title = "Checkout"
cards = ["p95"]

[cards.p95]
label = "p95 latency"
unit = "ms"
decimals = 0
warn = 300
crit = 800
stale_after = 30
"""
)


def html_of(entry: Entry) -> ServerSentEvent:
    [event] = Parser().feed(entry.html.decode())
    return event


@pytest.mark.parametrize(("value", "state"), [(120.0, "ok"), (450.0, "warning"), (900.0, "critical")])
def test_a_card_frame_carries_the_state_its_thresholds_give(
    renderer: Renderer, value: float, state: str
) -> None:
    frames = FrameEncoder(renderer, BOARD)
    html = html_of(frames.encode(Event("1-2", MetricUpdated("p95", value, 5.0)), Change(False, 1.0)))
    assert f'data-state="{state}"' in html.data
    assert '<h3 class="card__label"><a href="/cards/p95">p95 latency</a></h3>' in html.data
    assert f'{value:.0f}<span class="card__unit">ms</span>' in html.data


def test_a_placed_card_is_on_the_page_already_so_its_first_point_swaps_it(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer, BOARD)
    placed = frames.encode(Event("1-1", MetricUpdated("p95", 1.0, 5.0)), Change(True))
    other = frames.encode(Event("1-2", MetricUpdated("cpu", 1.0, 5.0)), Change(True))
    assert (html_of(placed).event, html_of(other).event) == ("metric-p95", "new-metric")


def test_a_stale_mark_renders_its_card_stale_on_both_streams(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer, BOARD)
    entry = frames.encode(Event("1-3", MetricStale("p95", 450.0, 5.0, 400.0)), Change(True, 400.0))
    html = html_of(entry)
    [data] = Parser().feed(entry.json.decode())
    assert (html.event, entry.key) == ("metric-p95", "p95")
    assert 'data-state="stale"' in html.data and 'data-trend="up"' in html.data
    assert '<p class="card__state">Stale: no data for over 30 s</p>' in html.data
    assert (data.event, json.loads(data.data)) == ("metric-stale", {"metric": "p95", "ts": 5.0})


def test_a_stale_mark_beaten_by_a_newer_point_swaps_nothing(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer, BOARD)
    entry = frames.encode(Event("1-3", MetricStale("p95", 450.0, 5.0, None)), Change(False))
    [data] = Parser().feed(entry.json.decode())
    assert (html_of(entry).event, html_of(entry).data, entry.key) == ("superseded", "p95", None)
    assert (data.event, json.loads(data.data)) == ("superseded", {"metric": "p95", "ts": 5.0})


def test_removing_a_card_deletes_it_or_puts_back_its_placeholder(renderer: Renderer) -> None:
    frames = FrameEncoder(renderer, BOARD)
    loose = frames.encode(Event("1-4", MetricRemoved("cpu", 9.0)), Change(True))
    placed = html_of(frames.encode(Event("1-5", MetricRemoved("p95", 9.0)), Change(True)))
    [data] = Parser().feed(loose.json.decode())
    assert html_of(loose).event == "removed-metric"
    assert html_of(loose).data.strip() == '<div id="metric-cpu" hx-swap-oob="delete"></div>'
    assert (data.event, json.loads(data.data)) == ("metric-removed", {"metric": "cpu", "ts": 9.0})
    assert placed.event == "removed-metric"
    assert 'id="metric-p95"' in placed.data and 'hx-swap-oob="outerHTML"' in placed.data
    assert 'data-state="stale"' in placed.data and "No data yet" in placed.data


def test_the_worst_case_card_frame_stays_within_one_and_a_half_kib(renderer: Renderer) -> None:
    """Longest name, longest label and unit made of characters HTML escapes the longest, every
    badge, a value and a trend: the HTML frame of one card is at most 1.5 KiB."""
    name = "m" * 64
    board = Board(cards={name: Card(label='"' * 80, unit="<" * 16, warn=1, crit=2, stale_after=86400)})
    frames = FrameEncoder(renderer, board)
    updated = MetricUpdated(name, -123456789012.345, 1_700_000_000.123)
    stale = MetricStale(name, -123456789012.345, 1_700_000_000.123, 1.5e-300)
    sizes = [
        len(frames.encode(Event("1700000000000-123456789", fact), Change(fact is stale, 1.5e-300)).html)
        for fact in (updated, stale)
    ]
    assert 'data-state="stale"' in frames.encode(Event("1-1", stale), Change(True, 1.0)).html.decode()
    assert max(sizes) <= 1536, sizes

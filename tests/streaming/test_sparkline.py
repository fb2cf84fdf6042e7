"""The sparkline inside a card's frame: drawn from the card's history, within 2 KiB at worst."""

from __future__ import annotations

import re

from app.domain.board import Board, Card
from app.domain.events import Change, Event
from app.domain.history import History
from app.domain.model import MetricStale, MetricUpdated
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer

T0 = 1_700_000_040
LONGEST = "m" * 64


def test_a_card_frame_draws_the_points_of_its_history(renderer: Renderer) -> None:
    history = History()
    for i, value in enumerate((1.0, 3.0, 2.0)):
        history.add("cpu", T0 + i, value)
    frames = FrameEncoder(renderer, Board(), history)
    html = frames.encode(Event("1-3", MetricUpdated("cpu", 2.0, T0 + 2)), Change(False, 3.0)).html.decode()
    assert 'data-points="3"' in html
    assert 'points="0,30 60,0 120,15"' in html
    assert 'aria-label="Last 15 min: min 1, max 3, last 2"' in html
    assert 'href="/cards/cpu"' in html


def test_a_placeholder_card_has_no_sparkline_yet(renderer: Renderer) -> None:
    html = renderer.render("partials/metric_card.html", metric=None, name="cpu", board=Board())
    assert "data-sparkline" not in html  # a placeholder has no value and no line yet


def test_thresholds_are_drawn_as_bands(renderer: Renderer) -> None:
    history = History()
    for i in range(11):
        history.add("lat", T0 + i, float(i * 100))
    board = Board(cards={"lat": Card(warn=500, crit=800)})
    frames = FrameEncoder(renderer, board, history)
    html = frames.encode(Event("1-1", MetricUpdated("lat", 1000.0, T0 + 10)), Change(False)).html.decode()
    assert '<rect class="sparkline__warning" y="6" width="120" height="9"/>' in html
    assert '<rect class="sparkline__critical" y="0" width="120" height="6"/>' in html


def test_the_worst_card_frame_with_its_sparkline_is_at_most_2_kib(renderer: Renderer) -> None:
    """Longest name, label and unit, both bands, a critical badge and 900 zig-zag seconds of
    values whose every coordinate has the most digits."""
    board = Board(cards={LONGEST: Card(label="L" * 80, unit="u" * 16, warn=-1e15, crit=-5e14, bad="high")})
    history = History()
    for i in range(900):
        history.add(LONGEST, T0 + i, (-1) ** i * 1e15 * (i % 7) - 0.123456789)
    frames = FrameEncoder(renderer, board, history)
    worst = [
        frames.encode(Event("1700000000000-1234567", fact), Change(applies, -1.5e-7)).html
        for fact, applies in (
            (MetricUpdated(LONGEST, 123456789.123456789, T0 + 899.123), False),
            (MetricStale(LONGEST, 123456789.123456789, T0 + 899.123, -1.5e-7), True),
        )
    ]
    assert all(b'data-points="120"' in html for html in worst)
    assert b"Critical" in worst[0] and b"Stale" in worst[1]
    assert max(len(html) for html in worst) <= 2048, [len(html) for html in worst]
    assert re.search(rb'points="0,\d+ ', worst[0])

"""The dashboard file: strict decoding that names the key and the card, formats, card states."""

from __future__ import annotations

import pytest

from app.domain.board import Board, BoardError, Card, decode_board, load_board
from tests.support.server import ROOT

EXAMPLE = """
title = "Acme live"

[[sections]]
title = "Checkout health"
cards = ["p95_latency_ms", "cache_hit_ratio"]

[cards.p95_latency_ms]
label = "p95 latency"
unit = "ms"
decimals = 0
warn = 300
crit = 800
bad = "high"
stale_after = 30
alert = true

[cards.cache_hit_ratio]
label = "Cache hit ratio"
format = "percent"
warn = 0.5
crit = 0.2
bad = "low"
"""


def test_the_issue_example_decodes_with_every_key() -> None:
    board = decode_board(EXAMPLE)
    assert board.title == "Acme live"
    assert [(s.title, s.cards) for s in board.sections] == [
        ("Checkout health", ["p95_latency_ms", "cache_hit_ratio"])
    ]
    assert board.cards["p95_latency_ms"] == Card(
        label="p95 latency", unit="ms", decimals=0, warn=300, crit=800, stale_after=30, alert=True
    )
    assert board.cards["cache_hit_ratio"] == Card(
        label="Cache hit ratio", format="percent", warn=0.5, crit=0.2, bad="low"
    )
    assert board.placed() == {"p95_latency_ms", "cache_hit_ratio"}
    assert set(board.watched()) == {"p95_latency_ms"}


def test_an_empty_file_is_the_board_livedash_shows_without_one() -> None:
    assert decode_board("") == Board()
    assert Board().card("anything") == Card()


def test_the_repository_file_for_the_demo_decodes() -> None:
    board = load_board(str(ROOT / "dashboard.toml"))
    assert board.title == "Acme live (demo)"
    assert all(name.startswith("demo_") for name in board.cards)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[cards.p95]\ncolour = 'red'", "dashboard.toml: cards.p95.colour: unknown key"),
        (
            "[cards.p95]\ndecimals = 'two'",
            "dashboard.toml: cards.p95.decimals: Expected `int | null`, got `str`",
        ),
        ("[cards.p95]\ndecimals = 9", "dashboard.toml: cards.p95.decimals: Expected `int` <= 6"),
        ("[cards.p95]\nformat = 'hex'", "dashboard.toml: cards.p95.format: Invalid enum value 'hex'"),
        ("[cards.p95]\nbad = 'up'", "dashboard.toml: cards.p95.bad: Invalid enum value 'up'"),
        ("[cards.p95]\nstale_after = 0", "dashboard.toml: cards.p95.stale_after: Expected `float` > 0.0"),
        (
            "[cards.p95]\nwarn = 900\ncrit = 800",
            'dashboard.toml: cards.p95.warn: 900 is above crit 800, but bad = "high"',
        ),
        (
            "[cards.hit]\nwarn = 0.1\ncrit = 0.2\nbad = 'low'",
            'dashboard.toml: cards.hit.warn: 0.1 is below crit 0.2, but bad = "low"',
        ),
        ("[cards.p95]\nalert = true", "dashboard.toml: cards.p95.alert: needs warn or crit to alert on"),
        (
            "[cards.job]\nformat = 'duration'\nunit = 'days'",
            "dashboard.toml: cards.job.unit: a duration is in one of ms, s, min, h, not 'days'",
        ),
        (
            "[cards.P95]\nunit = 'ms'",
            "dashboard.toml: cards.P95: a metric name is 1 to 64 of a-z, 0-9, '_', '.', '-'",
        ),
        ("colour = 'red'", "dashboard.toml: colour: unknown key"),
        ("title = 3", "dashboard.toml: title: Expected `str | null`, got `int`"),
        ("[[sections]]\ncards = ['a']", "dashboard.toml: sections[0].title: required"),
        ("[[sections]]\ntitle = 'A'\nicon = 'x'", "dashboard.toml: sections[0].icon: unknown key"),
        (
            "[[sections]]\ntitle = 'A'\ncards = ['a']\n[[sections]]\ntitle = 'B'\ncards = ['b', 'a']",
            "dashboard.toml: sections[1].cards: 'a' is already in sections[0]",
        ),
        ("title = ", "dashboard.toml: not valid TOML: Invalid value (at end of document)"),
    ],
)
def test_each_mistake_stops_with_one_line_naming_the_key_and_the_card(toml: str, message: str) -> None:
    with pytest.raises(BoardError) as caught:
        decode_board(toml)
    assert str(caught.value) == message


def test_a_missing_file_named_by_the_setting_is_an_error() -> None:
    with pytest.raises(BoardError, match=r"^LIVEDASH_CONFIG: cannot read /nonexistent/board.toml: "):
        load_board("/nonexistent/board.toml")


@pytest.mark.parametrize(
    ("card", "value", "shown"),
    [
        (Card(), 1234567.0, ("1.2M", "")),
        (Card(), 120345.0, ("120,345", "")),
        (Card(compact=False), 1234567.0, ("1,234,567", "")),
        (Card(decimals=2, unit="USD"), 48210.5, ("48,210.50", "USD")),
        (Card(decimals=0, unit="ms"), 812.4, ("812", "ms")),
        (Card(), 3.14159, ("3.14", "")),
        (Card(), 2_500_000_000.0, ("2.5G", "")),
        (Card(), 999.9e12, ("999.9T", "")),
        (Card(), 1.7e308, ("1.7e+308", "")),  # never 309 digits that no card can hold
        (Card(), -1.23e17, ("-1.23e+17", "")),
        (Card(format="percent"), 0.523, ("52.3", "%")),
        (Card(format="percent", decimals=0), 0.5, ("50", "%")),
        (Card(format="bytes"), 512.0, ("512", "B")),
        (Card(format="bytes"), 13_107_200.0, ("12.5", "MiB")),
        (Card(format="bytes", decimals=2), 1536.0, ("1.50", "KiB")),
        (Card(format="duration"), 0.85, ("850", "ms")),
        (Card(format="duration"), 12.34, ("12.3", "s")),
        (Card(format="duration"), 95.3, ("1.6", "min")),
        (Card(format="duration"), 7200.0, ("2.0", "h")),
        (Card(format="duration", unit="ms"), 850.0, ("850", "ms")),
        (Card(format="duration", unit="ms"), 4200.0, ("4.2", "s")),
    ],
)
def test_formats_read_at_a_glance(card: Card, value: float, shown: tuple[str, str]) -> None:
    assert card.parts(value) == shown


@pytest.mark.parametrize(
    ("value", "state"),
    [(299.0, "ok"), (300.0, "warning"), (799.9, "warning"), (800.0, "critical"), (5000.0, "critical")],
)
def test_high_is_bad_at_or_above_each_threshold(value: float, state: str) -> None:
    assert Card(warn=300, crit=800).state(value, stale=False) == state


@pytest.mark.parametrize(
    ("value", "state"),
    [(0.9, "ok"), (0.5, "warning"), (0.21, "warning"), (0.2, "critical"), (0.0, "critical")],
)
def test_low_is_bad_at_or_below_each_threshold(value: float, state: str) -> None:
    assert Card(warn=0.5, crit=0.2, bad="low").state(value, stale=False) == state


def test_stale_wins_over_any_level_and_no_value_is_stale() -> None:
    card = Card(warn=300, crit=800)
    assert card.state(900.0, stale=True) == "stale"
    assert card.state(None, stale=False) == "stale"
    assert Card().state(1.0, stale=False) == "ok"


def test_slack_moves_the_thresholds_towards_good() -> None:
    high, low = Card(warn=300, crit=800, hysteresis=20), Card(warn=0.5, crit=0.2, bad="low")
    assert (high.level(290.0), high.level(290.0, slack=20)) == ("ok", "warning")
    assert (high.level(279.0, slack=20), high.level(785.0, slack=20)) == ("ok", "critical")
    assert (low.level(0.52), low.level(0.52, slack=0.05)) == ("ok", "warning")


def test_a_card_may_keep_its_own_history_but_not_less_than_15_minutes() -> None:
    board = decode_board("[cards.cpu]\nhistory = 3600\n")
    assert board.card("cpu").history == 3600 and board.history_retention() == {"cpu": 3600}
    with pytest.raises(BoardError, match=r"^dashboard.toml: cards.cpu.history: Expected `int` >= 900$"):
        decode_board("[cards.cpu]\nhistory = 60\n")

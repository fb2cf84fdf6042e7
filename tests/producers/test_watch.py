"""The watcher: staleness pushed by the passing of time, alert rules following a card's value."""

from __future__ import annotations

import pytest

from app.domain.board import Board, decode_board
from app.domain.model import AlertIn, MetricPoint, Severity
from app.producers.watch import Watcher
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer

BOARD = decode_board(
    """
[cards.p95]
label = "p95 latency"
unit = "ms"
warn = 300
crit = 800
stale_after = 30
alert = true

[cards.hit]
format = "percent"
warn = 0.5
crit = 0.2
bad = "low"
alert = true
for = 10
hysteresis = 0.05
"""
)


class Time:
    """The wall clock and the monotonic clock the dashboard and watcher read, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def wall(self) -> float:
        return self.now

    def mono(self) -> float:
        return self.now - 1_600_000_000.0


@pytest.fixture
def time() -> Time:
    return Time()


@pytest.fixture
async def board_dashboard(settings: Settings, renderer: Renderer, time: Time) -> Dashboard:
    dashboard = Dashboard(settings, renderer, clock=time.wall, board=BOARD)
    await dashboard.start()
    return dashboard


async def point(dashboard: Dashboard, name: str, value: float) -> None:
    await dashboard.add_metrics([MetricPoint(name, value)])


def banners(dashboard: Dashboard) -> dict[str, tuple[str, str]]:
    return {a.id: (a.severity.value, a.title) for a in dashboard.state.alerts.values()}


@pytest.mark.anyio
async def test_a_card_goes_stale_once_its_stale_after_passes_without_a_point(
    board_dashboard: Dashboard, time: Time
) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "p95", 120.0)
    time.now += 29.5
    assert await watcher.check() == pytest.approx(0.5)
    assert board_dashboard.state.metrics["p95"].stale is False
    time.now += 0.5
    await watcher.check()
    assert board_dashboard.state.metrics["p95"].stale is True
    assert board_dashboard.streams.ring.since(board_dashboard.state.version) == []
    [entry] = board_dashboard.streams.ring.since(format_version(board_dashboard, -1)) or []
    assert b"event: metric-p95" in entry.html and b'data-state="stale"' in entry.html
    assert (await watcher.check(), board_dashboard.watched.keys()) == (5.0, {"p95", "hit"})  # marked once


def format_version(dashboard: Dashboard, back: int) -> str:
    major, minor = dashboard.state.version.split("-")
    return f"{major}-{int(minor) + back}"


@pytest.mark.anyio
async def test_the_next_point_clears_stale(board_dashboard: Dashboard, time: Time) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "p95", 120.0)
    time.now += 31
    await watcher.check()
    await point(board_dashboard, "p95", 130.0)
    assert board_dashboard.state.metrics["p95"].stale is False


@pytest.mark.anyio
async def test_crossing_warn_then_crit_raises_and_escalates_and_ok_resolves(
    board_dashboard: Dashboard, time: Time
) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "p95", 120.0)
    await watcher.check()
    assert banners(board_dashboard) == {}
    await point(board_dashboard, "p95", 450.0)
    await watcher.check()
    assert banners(board_dashboard) == {"rule-p95": ("warning", "p95 latency ≥ 300 ms")}
    await point(board_dashboard, "p95", 900.0)
    await watcher.check()
    assert banners(board_dashboard) == {"rule-p95": ("critical", "p95 latency ≥ 800 ms")}
    assert board_dashboard.state.alerts["rule-p95"].message == (
        "Now 900 ms. Raised by the dashboard file's rule; resolves when back to ok."
    )
    await point(board_dashboard, "p95", 100.0)
    await watcher.check()
    assert banners(board_dashboard) == {}


@pytest.mark.anyio
async def test_for_waits_before_raising_and_a_flap_back_restarts_the_wait(
    board_dashboard: Dashboard, time: Time
) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "hit", 0.4)
    assert await watcher.check() == 5.0  # the longest nap; `for` is due in 10 s
    time.now += 6
    await point(board_dashboard, "hit", 0.9)  # back to ok before `for` passed
    await watcher.check()
    await point(board_dashboard, "hit", 0.4)
    await watcher.check()
    time.now += 9
    assert await watcher.check() == pytest.approx(1.0)
    assert banners(board_dashboard) == {}
    time.now += 1
    await watcher.check()
    assert banners(board_dashboard) == {"rule-hit": ("warning", "Hit ≤ 50.0%")}


@pytest.mark.anyio
async def test_hysteresis_keeps_the_banner_until_the_value_is_clearly_back(
    board_dashboard: Dashboard, time: Time
) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "hit", 0.1)
    await watcher.check()
    time.now += 10
    await watcher.check()
    assert banners(board_dashboard) == {"rule-hit": ("critical", "Hit ≤ 20.0%")}
    await point(board_dashboard, "hit", 0.22)  # past crit, but not by the hysteresis
    await watcher.check()
    assert banners(board_dashboard)["rule-hit"][0] == "critical"
    await point(board_dashboard, "hit", 0.3)  # clearly past crit: down to warning at once
    await watcher.check()
    assert banners(board_dashboard)["rule-hit"][0] == "warning"
    await point(board_dashboard, "hit", 0.53)
    await watcher.check()
    assert banners(board_dashboard)["rule-hit"][0] == "warning"
    await point(board_dashboard, "hit", 0.56)
    await watcher.check()
    assert banners(board_dashboard) == {}


@pytest.mark.anyio
async def test_a_rule_never_touches_an_alert_raised_through_the_api(
    board_dashboard: Dashboard, time: Time
) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await board_dashboard.raise_alert(AlertIn("p95-latency", Severity.warning, "slow", None))
    await point(board_dashboard, "p95", 450.0)
    await watcher.check()
    await point(board_dashboard, "p95", 100.0)
    await watcher.check()
    assert banners(board_dashboard) == {"p95-latency": ("warning", "slow")}


@pytest.mark.anyio
async def test_removing_the_card_resolves_its_rule_banner(board_dashboard: Dashboard, time: Time) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "p95", 900.0)
    await watcher.check()
    await board_dashboard.remove_metric("p95")
    await watcher.check()
    assert banners(board_dashboard) == {}


@pytest.mark.anyio
async def test_a_rule_banner_whose_card_no_longer_alerts_is_resolved(
    settings: Settings, renderer: Renderer, time: Time
) -> None:
    """The file changed between two runs: nobody else would ever resolve that banner."""
    before = Dashboard(settings, renderer, clock=time.wall, board=BOARD)
    await before.start()
    await point(before, "p95", 900.0)
    await Watcher(before, time.mono).check()
    after = Dashboard(settings, renderer, clock=time.wall, board=Board(cards={"hit": BOARD.cards["hit"]}))
    await after.start()
    after.restore(before.state_data(), [], before.state.version)
    await Watcher(after, time.mono).check()
    assert banners(after) == {}


@pytest.mark.anyio
async def test_a_stale_card_decides_nothing_about_its_banner(board_dashboard: Dashboard, time: Time) -> None:
    watcher = Watcher(board_dashboard, time.mono)
    await point(board_dashboard, "p95", 900.0)
    await watcher.check()
    time.now += 31
    await watcher.check()
    assert board_dashboard.state.metrics["p95"].stale is True
    assert banners(board_dashboard) == {"rule-p95": ("critical", "p95 latency ≥ 800 ms")}

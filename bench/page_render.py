"""The first page with 24 configured cards, rendered in-process: the median must be <= 5 ms.

`.venv/bin/python -m bench.page_render` builds a dashboard the way the app does (its Jinja
environment, a dashboard file with six sections of four cards, each with a label, a unit or a
format, thresholds and `stale_after`; some cards warning, critical or stale), fills the feed
with 50 items and opens three alerts, gives every card 24 h of history (a point every 10 s,
every second for the last 15 min, so each sparkline draws 120 points), then times
`pages/dashboard.html` rendered from that state, as `GET /` renders it (without the HTTP
round trip that bench/page.py adds). Sparklines are drawn once per change of their card
(app/domain/history.py); `--cold` redraws all 24 before every render, the worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

from app.domain.board import Board, Card, Section
from app.domain.model import ActivityIn, AlertIn, Level, MetricPoint, MetricStale, Severity
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer, make_environment
from app.web.page_context import live_page_context

CARDS = 24
FEED_ITEMS = 50
BUDGET_MS = 5.0
FORMATS = ("number", "percent", "bytes", "duration")


def board() -> Board:
    """Six sections of four cards, every card with everything the file can say."""
    names = [f"service_{i:02d}_metric" for i in range(CARDS)]
    cards = {
        name: Card(
            label=f"Service {i} {FORMATS[i % 4]}",
            unit="ms" if i % 4 in (0, 3) else "",
            format=FORMATS[i % 4],  # type: ignore[arg-type]
            decimals=1,
            warn=300,
            crit=800,
            stale_after=60,
            alert=i % 2 == 0,
        )
        for i, name in enumerate(names)
    }
    sections = [Section(f"Section {s}", names[s * 4 : s * 4 + 4]) for s in range(CARDS // 4)]
    return Board(title="Acme live", sections=sections, cards=cards)


async def filled(board: Board) -> Dashboard:
    """A dashboard in the state the page is timed in."""
    settings = Settings(demo=False, db_path="", card_rate=0, feed_size=FEED_ITEMS)
    dashboard = Dashboard(settings, Renderer(make_environment()), board=board)
    await dashboard.start()
    names = list(board.cards)
    values = [120.0, 450.0, 900.0, 1_234_567.0]
    await dashboard.add_metrics([MetricPoint(name, values[i % 4]) for i, name in enumerate(names)])
    await dashboard.add_metrics([MetricPoint(name, values[(i + 1) % 4]) for i, name in enumerate(names)])
    fill_history(dashboard, names)
    for name in names[::5]:
        metric = dashboard.state.metrics[name]
        await dashboard.publish([MetricStale(name, metric.value, metric.ts, metric.previous)])
    for i in range(FEED_ITEMS):
        await dashboard.add_activity(
            ActivityIn(f"bench activity item {i}: deployed web@{4800 + i}", "ada", Level.info)
        )
    for i in range(3):
        await dashboard.raise_alert(
            AlertIn(f"bench-{i}", Severity.warning, f"Bench alert {i}", "Something is slow.")
        )
    return dashboard


def fill_history(dashboard: Dashboard, names: list[str]) -> None:
    """24 h of history per card, ending at its newest point: every 10 s, then every second."""
    for i, name in enumerate(names):
        end = dashboard.state.metrics[name].ts
        for ts in [*range(int(end) - 86400, int(end) - 900, 10), *range(int(end) - 900, int(end))]:
            dashboard.history.add(name, ts, 100 + 80 * math.sin(ts / (300 + 40 * i)) + (ts % 7))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=500)
    parser.add_argument("--cold", action="store_true", help="redraw every sparkline before each render")
    args = parser.parse_args()
    dashboard = asyncio.run(filled(board()))
    template = make_environment().get_template("pages/dashboard.html")

    def render() -> str:
        if args.cold:
            for series in dashboard.history.series.values():
                series.spark = None
        return template.render(**live_page_context(dashboard), kiosk=False, can_log_out=False)

    html = render()
    for _ in range(20):
        render()
    times = []
    for _ in range(args.renders):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    states = {s: html.count(f'data-state="{s}"') for s in ("ok", "warning", "critical", "stale")}
    cards = html.count('class="card"')
    sparklines = html.count('data-points="120"')
    print(f"cards {cards}, sparklines of 120 points {sparklines}, states {states}, {len(html)} bytes")
    print(
        f"page render: p50 {median:.2f} ms, p90 {p90:.2f} ms over {args.renders} renders"
        f" (budget {BUDGET_MS} ms){', every sparkline redrawn' if args.cold else ''}"
    )
    print("PASS" if median <= BUDGET_MS else "FAIL")


if __name__ == "__main__":
    main()

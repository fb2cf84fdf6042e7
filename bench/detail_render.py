"""A card's detail page at 24h, rendered in-process: the median must be <= 20 ms.

`.venv/bin/python -m bench.detail_render` gives one card 24 h of history at one point per
second (86,400 points: 1,440 one-minute roll-ups and 900 raw seconds kept), then times what
`GET /cards/<name>?range=24h` does: read the range, draw the chart (downsampled to 300
points) and render `pages/card.html`, without the HTTP round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

from app.domain.board import Board, Card
from app.domain.model import MetricPoint
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer, make_environment
from app.web.page_context import live_page_context
from app.web.routes.history import chart_context

BUDGET_MS = 20.0
NAME = "checkout_p95_ms"


async def filled() -> Dashboard:
    board = Board(cards={NAME: Card(label="Checkout p95", unit="ms", warn=300, crit=800)})
    settings = Settings(demo=False, db_path="", card_rate=0)
    dashboard = Dashboard(settings, Renderer(make_environment()), board=board)
    await dashboard.start()
    await dashboard.add_metrics([MetricPoint(NAME, 120.0)])
    end = int(dashboard.state.metrics[NAME].ts)
    for ts in range(end - 86400, end):
        dashboard.history.add(NAME, ts, 200 + 150 * math.sin(ts / 1800) + (ts % 13))
    return dashboard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    dashboard = asyncio.run(filled())
    template = make_environment().get_template("pages/card.html")

    def render() -> str:
        context = chart_context(dashboard, NAME, "24h")
        context.update(live_page_context(dashboard), metric=dashboard.state.metrics[NAME])
        return template.render(**context)

    html = render()
    for _ in range(10):
        render()
    times = []
    for _ in range(args.renders):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    drawn = html.split('data-chart data-range="24h" data-points="', 1)[1].split('"', 1)[0]
    print(f"24h: {len(dashboard.history.points(NAME, 86400))} buckets, {drawn} drawn, {len(html)} bytes")
    print(
        f"detail render: p50 {median:.2f} ms, p90 {p90:.2f} ms over {args.renders} renders"
        f" (budget {BUDGET_MS} ms)"
    )
    print("PASS" if median <= BUDGET_MS else "FAIL")


if __name__ == "__main__":
    main()

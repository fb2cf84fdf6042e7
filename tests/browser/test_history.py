"""History in a real browser: a sparkline redraws when a point arrives, and the detail page
switches range by its links and redraws its chart live. Saves the two screenshots the README
shows (tests/artifacts/, or LIVEDASH_HISTORY_SHOTS=docs to refresh the committed ones)."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.dom import LIVE_MS, expect_status, placed_card, wait_processed
from tests.browser.factories import PageFactory
from tests.browser.observe import STREAM_PATH, BrowserLog, Kind, Noise
from tests.support.server import ROOT, LiveServer, MakeServer

pytestmark = pytest.mark.browser

SHOTS = ROOT / os.environ.get("LIVEDASH_HISTORY_SHOTS", "tests/artifacts")
BOARD = """
title = "Checkout"

[[sections]]
title = "Checkout health"
cards = ["p95", "rps", "errors"]

[cards.p95]
label = "p95 latency"
unit = "ms"
decimals = 0
warn = 300
crit = 450

[cards.rps]
label = "Requests"
unit = "/s"

[cards.errors]
label = "Error rate"
format = "percent"
warn = 0.02
crit = 0.05
"""
NOW = int(time.time())
START = NOW - 3000
TIMES = range(START, NOW - 10, 10)
"""Fifty minutes of history, one point every 10 s, the last 20 s ago."""
MINUTES = len({ts // 60 for ts in TIMES})
"""The 1 min buckets those points fall in (50 or 51, by where the minute turns)."""
FIFTEEN_MIN = len([ts for ts in TIMES if ts > TIMES[-1] - 900])


LEFT = (
    Noise(Kind.request_failed, "net::ERR_ABORTED", STREAM_PATH, "following a link aborts the page's stream"),
    Noise(
        Kind.request_failed,
        "net::ERR_ABORTED",
        "/static/favicon.svg",
        "following a link before Chromium has fetched the tab's icon aborts that fetch",
    ),
)


def seed(server: LiveServer) -> None:
    """Fifty minutes of three cards, posted with explicit times."""
    points = []
    for i, ts in enumerate(TIMES):
        wave = math.sin(i / 25)
        points += [
            {"name": "p95", "value": round(240 + 130 * wave + 40 * math.sin(i / 3)), "ts": ts},
            {"name": "rps", "value": round(900 + 300 * math.cos(i / 40) + 25 * math.sin(i), 1), "ts": ts},
            {"name": "errors", "value": round(max(0.0, 0.018 + 0.02 * wave * math.sin(i / 7)), 4), "ts": ts},
        ]
    post(server, points)


def post(server: LiveServer, points: list[dict[str, object]]) -> None:
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        for start in range(0, len(points), 900):
            response = client.post("/api/metrics", json=points[start : start + 900])
            assert response.status_code == 202, response.text


def started(make_server: MakeServer, tmp_path: Path) -> LiveServer:
    board = tmp_path / "dashboard.toml"
    board.write_text(BOARD)
    server = make_server({"LIVEDASH_CONFIG": str(board), "LIVEDASH_CARD_RATE": "0"}).start()
    seed(server)
    return server


def test_a_sparkline_visibly_changes_when_a_point_arrives(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog, tmp_path: Path
) -> None:
    server = started(make_server, tmp_path)
    page = open_page(color_scheme="light")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    card = placed_card(page, "p95")
    spark = card.locator("svg[data-sparkline]")
    expect(spark).to_have_attribute("data-points", str(FIFTEEN_MIN))  # the whole 15 min at once
    expect(spark.locator("rect.sparkline__warning")).to_have_count(1)  # 300 ms is within the range
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "sparklines.png", animations="disabled")
    wait_processed(card)
    before = spark.screenshot(animations="disabled")
    line = spark.locator("polyline").get_attribute("points")

    post(server, [{"name": "p95", "value": 999, "ts": NOW - 5}])
    expect(spark).to_have_attribute(
        "aria-label", re.compile(r"^Last 15 min: min \d+ ms, max 999 ms, last 999 ms$")
    )
    wait_processed(card)
    assert spark.locator("polyline").get_attribute("points") != line
    assert spark.screenshot(animations="disabled") != before  # the pixels, not only the markup
    browser_log.assert_clean()


def test_the_detail_page_switches_range_and_redraws_live(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog, tmp_path: Path
) -> None:
    server = started(make_server, tmp_path)
    page = open_page(color_scheme="light")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    browser_log.expect(*LEFT)  # each link followed leaves a page and its stream
    placed_card(page, "p95").locator(".card__label a").click()
    expect(page).to_have_url(server.url + "/cards/p95")
    expect_status(page, "live", timeout=LIVE_MS)
    chart = page.locator("svg[data-chart]")
    expect(chart).to_have_attribute("data-range", "15m")
    expect(chart).to_have_attribute("data-points", str(FIFTEEN_MIN))

    page.get_by_role("link", name="1h", exact=True).click()
    expect(page).to_have_url(server.url + "/cards/p95?range=1h")
    expect(chart).to_have_attribute("data-range", "1h")
    expect(chart).to_have_attribute("data-points", str(MINUTES))  # 1 min buckets
    expect(page.get_by_role("link", name="1h", exact=True)).to_have_attribute("aria-current", "page")
    expect_status(page, "live", timeout=LIVE_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "detail.png", animations="disabled")

    post(server, [{"name": "p95", "value": 999, "ts": NOW}])  # a new minute's bucket, or a new max
    expect(page.locator('[data-figure="max"]')).to_have_text("999 ms", timeout=LIVE_MS)
    expect(page.locator('[data-figure="last"]')).to_have_text("999 ms")
    browser_log.assert_clean()

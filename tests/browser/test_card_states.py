"""A card's state in a real browser: its colour and its words change together, live."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from tests.browser.dom import LIVE_MS, expect_status, placed_card, wait_processed
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import MakeServer

pytestmark = pytest.mark.browser

BOARD = """
[[sections]]
title = "Checkout health"
cards = ["p95"]

[cards.p95]
label = "p95 latency"
unit = "ms"
decimals = 0
warn = 300
crit = 800
stale_after = 2
"""


def left_border(card: Locator) -> str:
    colour: str = card.evaluate("el => getComputedStyle(el).borderLeftColor")
    return colour


def test_colour_and_text_change_with_the_cards_state(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog, tmp_path: Path
) -> None:
    board = tmp_path / "dashboard.toml"
    board.write_text(BOARD)
    server = make_server({"LIVEDASH_CONFIG": str(board)}).start()
    page = open_page(color_scheme="light")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    card = placed_card(page, "p95")
    expect(card).to_have_attribute("data-state", "stale")
    expect(card.locator(".card__state")).to_have_text("No data yet")

    with Ingest(server.url) as ingest:
        ingest.metric("p95", 120)
        expect(card).to_have_attribute("data-state", "ok", timeout=LIVE_MS)
        expect(card.locator(".card__state")).to_have_count(0)
        expect(card.locator(".card__value")).to_have_text("120ms")
        assert left_border(card) == "rgb(223, 227, 234)"  # --border: nothing to see
        wait_processed(card)

        ingest.metric("p95", 450)
        expect(card).to_have_attribute("data-state", "warning", timeout=LIVE_MS)
        expect(card.locator(".card__state")).to_have_text("Warning")
        assert left_border(card) == "rgb(180, 83, 9)"  # --warning
        wait_processed(card)

        ingest.metric("p95", 900)
        expect(card).to_have_attribute("data-state", "critical", timeout=LIVE_MS)
        expect(card.locator(".card__state")).to_have_text("Critical")
        assert left_border(card) == "rgb(185, 28, 28)"  # --critical
        wait_processed(card)

    # No request from here on: the server pushes the stale card after stale_after (2 s).
    expect(card).to_have_attribute("data-state", "stale", timeout=2_000 + LIVE_MS)
    expect(card.locator(".card__state")).to_have_text("Stale: no data for over 2 s")
    expect(card.locator(".card__value")).to_have_text("900ms")
    assert card.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    assert left_border(card) == "rgb(223, 227, 234)"
    browser_log.assert_clean()


def test_a_removed_card_leaves_at_once_and_a_placed_one_waits_for_its_next_point(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog, tmp_path: Path
) -> None:
    board = tmp_path / "dashboard.toml"
    board.write_text(BOARD)
    server = make_server({"LIVEDASH_CONFIG": str(board)}).start()
    with Ingest(server.url) as ingest:
        ingest.metrics([("p95", 450), ("cpu", 0.5)])
        page = open_page()
        page.goto(server.url + "/")
        expect_status(page, "live", timeout=LIVE_MS)
        placed, loose = placed_card(page, "p95"), page.locator('#metrics-grid > article[id="metric-cpu"]')
        expect(placed).to_have_attribute("data-state", "warning")
        expect(loose).to_have_count(1)

        for name in ("cpu", "p95"):
            response = ingest.client.delete(f"/api/metrics/{name}")
            assert response.status_code == 200, response.text
        expect(loose).to_have_count(0, timeout=LIVE_MS)
        expect(placed.locator(".card__state")).to_have_text("No data yet", timeout=LIVE_MS)
        expect(placed).to_have_attribute("data-state", "stale")
        wait_processed(placed)

        ingest.metric("p95", 900)  # the placeholder swaps its own events again
        expect(placed).to_have_attribute("data-state", "critical", timeout=LIVE_MS)
        expect(placed.locator(".card__value")).to_have_text("900ms")
    browser_log.assert_clean()

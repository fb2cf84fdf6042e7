"""The README's screenshot: the demo source filling a 1280x800 page, laid out by dashboard.toml.

Every run writes tests/artifacts/screenshot.png; `make screenshot` runs this test with
LIVEDASH_SCREENSHOT=docs/screenshot.png to refresh the committed one.
"""

from __future__ import annotations

import os
import struct

import pytest
from playwright.sync_api import expect

from tests.browser.dom import LIVE_MS, banner, expect_status, feed_items, placed_card
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import ROOT, MakeServer

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / os.environ.get("LIVEDASH_SCREENSHOT", "tests/artifacts/screenshot.png")
DEMO_METRICS = (
    "demo_page_views",
    "demo_active_users",
    "demo_signups",
    "demo_revenue",
    "demo_error_rate",
    "demo_p95_latency_ms",
    "demo_cache_hit_ratio",
    "demo_egress_bytes",
)
EARLIER_ACTIVITY = (
    ("ada", "signed up from the pricing page", "success"),
    ("grace", "exported a CSV report", "info"),
    ("linus", "deployed web@4821", "info"),
    ("margaret", "opened a support ticket", "warning"),
    ("ken", "upgraded to the Team plan", "success"),
    ("barbara", "payment failed, retrying", "error"),
    ("guido", "invited 3 teammates", "info"),
)


def test_screenshot_of_a_busy_dashboard(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """Demo source on (fast), a feed and an alert seeded; captured after two ticks, nothing mid-swap."""
    server = make_server(
        {"LIVEDASH_DEMO": "1", "LIVEDASH_DEMO_INTERVAL": "0.4", "LIVEDASH_CONFIG": "dashboard.toml"}
    ).start()
    with Ingest(server.url) as api:
        for actor, message, level in EARLIER_ACTIVITY:
            api.activity(message, actor=actor, level=level)
        api.alert("p95-latency", "warning", "p95 latency above 300 ms", "Checkout is slower than usual.")
    page = open_page()
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    for name in DEMO_METRICS:  # in the file's sections, each with a value
        expect(placed_card(page, name).locator("[data-value]")).to_have_count(1, timeout=LIVE_MS)
    # Two ticks at least, so trends show; then nothing half-swapped.
    expect(placed_card(page, "demo_page_views")).to_have_attribute("data-trend", "up", timeout=5_000)
    expect(feed_items(page).nth(len(EARLIER_ACTIVITY) - 1)).to_be_attached(timeout=LIVE_MS)
    expect(banner(page, "p95-latency")).to_have_count(1, timeout=LIVE_MS)  # the demo may add one more
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0, timeout=LIVE_MS)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT, animations="disabled")

    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 800)
    browser_log.assert_clean()

"""Wall mode (?kiosk=1): 24 cards, the alerts and the feed on one 1920x1080 screen without
scrolling, large type, no chrome but the live badge, no cursor; and the four looks of the page
(light, dark, phone, kiosk) captured for the README."""

from __future__ import annotations

import os
import struct

import httpx
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.dom import LIVE_MS, expect_status, one_line_inside
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import ROOT, LiveServer, MakeServer

pytestmark = pytest.mark.browser

WALL: ViewportSize = {"width": 1920, "height": 1080}
SCREENS = ROOT / os.environ.get("LIVEDASH_SCREENSHOT_DIR", "tests/artifacts")


def fill(api: Ingest, cards: int = 24) -> None:
    """`cards` cards with large values, three alerts with text, and a full feed."""
    api.metrics([(f"service_{n:02d}_requests", 234_340_000 - n * 7_654_321) for n in range(cards)])
    api.alert("checkout", "critical", "Checkout is down", "Payments fail for every card since the deploy.")
    api.alert("latency", "warning", "p95 latency above 300 ms", "Checkout is slower than usual.")
    api.alert("deploy", "info", "Deploy of web@4821 in progress", None)
    for n in range(50):
        api.activity(
            f"deployed web@{4800 + n}", actor="linus", level=("info", "success", "warning", "error")[n % 4]
        )


def settled(page: Page) -> None:
    expect_status(page, "live", timeout=LIVE_MS)
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0, timeout=LIVE_MS)


def test_kiosk_fits_24_cards_the_alerts_and_the_feed_on_a_1920x1080_wall(
    open_page: PageFactory, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    fill(ingest)
    page = open_page(viewport=WALL)
    page.goto(server.url + "/?kiosk=1")
    settled(page)
    root = page.locator("html")
    expect(root).to_have_class("kiosk")
    expect(root).to_have_attribute("data-kiosk", "")
    expect(page.locator("article.card")).to_have_count(24)

    size = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " innerWidth, innerHeight]"
    )
    assert size == [1920, 1080, 1920, 1080], f"the wall page scrolls: {size}"
    # Every card, every banner and the feed's heading and first items are on screen.
    for selector in ("article.card", "#alerts > [data-js-alert]", "#activity-heading", "#activity-feed > li"):
        boxes = page.locator(selector).evaluate_all("els => els.map(e => e.getBoundingClientRect().bottom)")
        visible = boxes if selector != "#activity-feed > li" else boxes[:5]
        assert visible and max(visible) <= 1080, f"{selector} below the screen: {visible}"
    for number in page.locator(".card__value").all():
        assert one_line_inside(number) == {"lines": 1, "inside": True}, number.inner_text()
    # Large type, no chrome but the live badge, no cursor.
    assert float(page.locator("body").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 20
    value_px = page.locator(".card__value").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert value_px >= 36, value_px
    expect(page.locator("[data-js-theme-toggle]")).to_be_hidden()
    expect(page.locator(".topbar__updated")).to_be_hidden()
    expect(page.locator("[data-js-status]")).to_be_visible()
    expect(page.locator("main")).to_have_css("cursor", "none")
    browser_log.assert_clean()


def test_kiosk_must_be_a_boolean(server: LiveServer) -> None:
    response = httpx.get(server.url + "/?kiosk=wall", timeout=10.0)
    assert response.status_code == 400
    assert "kiosk" in response.text


def capture(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / name, animations="disabled")
    png = (SCREENS / name).read_bytes()
    viewport = page.viewport_size
    assert viewport is not None
    assert struct.unpack(">II", png[16:24]) == (viewport["width"], viewport["height"])


def test_screenshots_of_light_dark_phone_and_kiosk(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """Written to tests/artifacts; `make screenshot` writes them into docs/ for the README."""
    server = make_server({"LIVEDASH_CONFIG": "dashboard.toml"}).start()
    with Ingest(server.url) as api:
        api.metrics(
            [
                ("demo_page_views", 48_213),
                ("demo_active_users", 1_204),
                ("demo_signups", 87),
                ("demo_revenue", 234_340),
                ("demo_error_rate", 0.031),
                ("demo_p95_latency_ms", 342),
                ("demo_cache_hit_ratio", 0.93),
                ("demo_egress_bytes", 734_003_200),
            ]
        )
        api.alert("latency", "warning", "p95 latency above 300 ms", "Checkout is slower than usual.")
        for n, (actor, message, level) in enumerate(
            [
                ("ada", "signed up from the pricing page", "success"),
                ("grace", "exported a CSV report", "info"),
                ("linus", "deployed web@4821", "info"),
                ("margaret", "opened a support ticket", "warning"),
                ("barbara", "payment failed, retrying", "error"),
            ]
            * 3
        ):
            api.activity(message, actor=f"{actor}{n}" if n >= 5 else actor, level=level)
    for name, options, path in (
        ("screenshot-light.png", {"color_scheme": "light"}, "/"),
        ("screenshot-dark.png", {"color_scheme": "dark"}, "/"),
        ("screenshot-phone.png", {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1}, "/"),
        ("screenshot-kiosk.png", {"viewport": WALL, "color_scheme": "dark"}, "/?kiosk=1"),
    ):
        page = open_page(**options)
        page.goto(server.url + path)
        settled(page)
        for number in page.locator(".card__value").all():
            assert one_line_inside(number) == {"lines": 1, "inside": True}, (name, number.inner_text())
        capture(page, name)
    browser_log.assert_clean()

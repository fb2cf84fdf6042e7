"""axe-core finds no violation on the dashboard, the login page and the style guide, at desktop and phone
sizes, in light and dark: every rule axe runs by default (WCAG 2.x A and AA and its best
practices), contrast included.

axe (tests/browser/vendor/axe.min.js, checked by tests/test_vendor.py) is injected by the
test only; the context bypasses the page's CSP for that one script, nothing else changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.dom import LIVE_MS, expect_status
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import RELOAD_ABORTS_STREAM, BrowserLog
from tests.support.server import ROOT, LiveServer, MakeServer

pytestmark = pytest.mark.browser

AXE = ROOT / "tests" / "browser" / "vendor" / "axe.min.js"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
SCHEMES = ("light", "dark")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe reports on the page as it is now: rule id, impact and the elements."""
    page.add_script_tag(path=AXE)
    result: dict[str, Any] = page.evaluate(
        """async () => {
            const r = await axe.run(document);
            return {passed: r.passes.length, violations: r.violations.map(
                v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}))};
        }"""
    )
    assert result["passed"] > 20  # axe did run its rules (contrast, names, headings, ...)
    violations: list[dict[str, Any]] = result["violations"]
    return violations


@pytest.fixture(scope="module")
def busy_server() -> Any:
    """One server for every size and scheme: the demo's dashboard file, cards in each state,
    alerts of each severity and a feed long enough to scroll on a phone."""
    server = LiveServer({"LIVEDASH_CONFIG": "dashboard.toml", "LIVEDASH_STYLEGUIDE": "1"}).start()
    with Ingest(server.url) as api:
        api.metrics(
            [
                ("demo_page_views", 123_456),
                ("demo_error_rate", 0.09),
                ("demo_p95_latency_ms", 812),
                ("other", -3),
            ]
        )
        api.metrics([("demo_revenue", 234_340_000), ("demo_cache_hit_ratio", 0.5)])
        for severity in ("info", "warning", "critical"):
            api.alert(f"a-{severity}", severity, f"{severity} alert", "with a message")
        for n in range(30):
            api.activity(
                f"event number {n}", actor="ada", level=("info", "success", "warning", "error")[n % 4]
            )
    yield server
    server.stop()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("path", ["/", "/cards/demo_page_views", "/styleguide"])
def test_no_axe_violations(
    open_page: PageFactory,
    busy_server: LiveServer,
    browser_log: BrowserLog,
    path: str,
    size: str,
    scheme: str,
) -> None:
    page = open_page(viewport=SIZES[size], color_scheme=scheme, bypass_csp=True)
    page.goto(busy_server.url + path)
    if path == "/":
        expect_status(page, "live", timeout=LIVE_MS)
        expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0, timeout=LIVE_MS)
    assert axe_violations(page) == []
    browser_log.assert_clean()


@pytest.fixture(scope="module")
def login_server() -> Any:
    """A board behind the viewer login: its login page is what a stranger sees."""
    server = LiveServer({"LIVEDASH_VIEWER_PASSWORD": "correct horse"}).start()
    yield server
    server.stop()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_no_axe_violations_on_the_login_page(
    open_page: PageFactory, login_server: LiveServer, browser_log: BrowserLog, size: str, scheme: str
) -> None:
    page = open_page(viewport=SIZES[size], color_scheme=scheme, bypass_csp=True)
    page.goto(login_server.url + "/")  # sent to /login
    expect(page).to_have_url(login_server.url + "/login")
    expect(page.locator("input[name=password]")).to_be_visible()
    assert axe_violations(page) == []
    browser_log.assert_clean()


def test_the_dark_toggle_is_remembered_and_passes_axe(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """Light system, dark chosen: dark after a reload too, and still no violation."""
    server = make_server().start()
    with Ingest(server.url) as api:
        api.metric("orders", 42)
    page = open_page(color_scheme="light", bypass_csp=True)
    page.goto(server.url + "/")
    toggle = page.locator("[data-js-theme-toggle]")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    body_colour = "rgb(15, 20, 27)"  # --bg in dark
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("body")).to_have_css("background-color", body_colour)
    browser_log.expect(RELOAD_ABORTS_STREAM)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("body")).to_have_css("background-color", body_colour)
    expect_status(page, "live", timeout=LIVE_MS)
    assert axe_violations(page) == []
    browser_log.assert_clean()


def test_the_feed_scrolls_by_keyboard_on_a_phone(
    open_page: PageFactory, busy_server: LiveServer, browser_log: BrowserLog
) -> None:
    page = open_page(viewport=PHONE)
    page.goto(busy_server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    feed = page.locator("#activity-feed")
    assert feed.evaluate("f => f.scrollHeight > f.clientHeight")  # it does scroll on its own
    feed.focus()  # reachable: it takes focus (tabindex=0), named by its heading
    expect(feed).to_be_focused()
    expect(feed).to_have_accessible_name("Activity")
    page.keyboard.press("End")
    page.wait_for_function(
        "() => { const f = document.getElementById('activity-feed'); return f.scrollTop > 0; }"
    )
    browser_log.assert_clean()


def test_reduced_motion_turns_transitions_and_animations_off(
    open_page: PageFactory, busy_server: LiveServer, browser_log: BrowserLog
) -> None:
    page = open_page(reduced_motion="reduce")
    page.goto(busy_server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    moving = page.evaluate(
        """() => [...document.querySelectorAll("body *")].filter(e => {
            const s = getComputedStyle(e);
            return s.animationName !== "none" || s.transitionDuration.split(",").some(d => parseFloat(d) > 0);
        }).map(e => e.id || e.className)"""
    )
    assert moving == []
    browser_log.assert_clean()

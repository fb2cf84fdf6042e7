"""The style guide shows every fixture of app/web/fixtures.py in its state, each screenshotted
at desktop and phone sizes (tests/artifacts/styleguide/), and card numbers stay on one line
inside their card, on the style guide and on a live dashboard."""

from __future__ import annotations

import shutil

import httpx
import pytest
from playwright.sync_api import ViewportSize, expect

from app.web.fixtures import GROUPS
from tests.browser.dom import LIVE_MS, card, expect_status, one_line_inside
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import ROOT, LiveServer, MakeServer

pytestmark = pytest.mark.browser

SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
SHOTS = ROOT / "tests" / "artifacts" / "styleguide"
EMPTY_STATES = ("empty-grid", "empty-alerts", "empty-feed")


@pytest.mark.parametrize("size", SIZES)
def test_every_fixture_is_shown_in_its_state_and_screenshotted(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog, size: str
) -> None:
    server = make_server({"LIVEDASH_STYLEGUIDE": "1"}).start()
    page = open_page(viewport=SIZES[size])
    page.goto(server.url + "/styleguide")
    shots = SHOTS / size
    shutil.rmtree(shots, ignore_errors=True)  # only this run's screenshots
    shots.mkdir(parents=True)
    examples = [example for group in GROUPS for example in group.examples]
    figures = page.locator("[data-styleguide-state]")
    expect(figures).to_have_count(len(examples) + len(EMPTY_STATES))
    for example in examples:
        figure = page.locator(f'[data-styleguide-state="{example.id}"]')
        root = figure.locator(f'[id="{example.id}"]')
        expect(root).to_have_count(1)
        for attribute, value in example.expect.items():
            expect(root).to_have_attribute(attribute, value)
        figure.screenshot(path=shots / f"{example.id}.png", animations="disabled")
    for state in EMPTY_STATES:
        page.locator(f'[data-styleguide-state="{state}"]').screenshot(path=shots / f"{state}.png")
    assert sorted(path.stem for path in shots.glob("*.png")) == sorted(
        [example.id for example in examples] + list(EMPTY_STATES)
    )
    # The states the cards show, exactly, and every number on one line inside its card.
    states = page.locator("article.card").evaluate_all("cards => cards.map(c => [c.id, c.dataset.state])")
    assert dict(states) == {
        "metric-sg_ok": "ok",
        "metric-sg_warning": "warning",
        "metric-sg_critical": "critical",
        "metric-sg_stale": "stale",
        "metric-sg_no_data": "stale",
        "metric-sg_huge": "ok",
        "metric-sg_huge_bytes": "ok",
        "metric-sg_tiny": "ok",
        "metric-sg_negative": "ok",
        "metric-sg_percent": "warning",  # 85.3 % where below 90 warns, below 80 is critical
        "metric-sg_duration": "ok",
        "metric-sg_long_label": "ok",
    }
    expect(page.locator("#metric-sg_huge .card__value")).to_have_text("234.3MUSD")
    for number in page.locator(".card__value").all():
        assert one_line_inside(number) == {"lines": 1, "inside": True}, number.inner_text()
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] == widths[1] == SIZES[size]["width"]
    browser_log.assert_clean()


def test_the_style_guide_is_off_in_production_unless_asked_for(server: LiveServer) -> None:
    assert httpx.get(server.url + "/styleguide", timeout=10.0).status_code == 404


@pytest.mark.parametrize("size", SIZES)
def test_big_numbers_stay_on_one_line_in_a_live_card(
    open_page: PageFactory, server: LiveServer, ingest: Ingest, browser_log: BrowserLog, size: str
) -> None:
    ingest.metrics(
        [(f"m{n}", 234_340_000 + n) for n in range(11)] + [("p95_latency_ms_long_name", -98_765.43)]
    )
    page = open_page(viewport=SIZES[size])
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    ingest.metric("arrives_live", 999_999_999_999)
    value = card(page, "arrives_live").locator(".card__value")
    expect(value).to_have_text("1,000.0G", timeout=LIVE_MS)
    for element in page.locator(".card__value").all():
        assert one_line_inside(element) == {"lines": 1, "inside": True}, element.inner_text()
    browser_log.assert_clean()

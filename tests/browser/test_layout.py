"""Readable on a phone: long user text wraps instead of pushing the page sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.dom import LIVE_MS, card, expect_status
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
LONG_NAME = "m" * 64
URL = "https://grafana.example.com/d/abcdef123/checkout-latency?orgId=1&from=now-6h&to=now&var-region=eu-west-1&viewPanel=42"


def test_long_text_wraps_on_a_phone(
    open_page: PageFactory, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    ingest.alert("long-link", "critical", "T" * 200, f"see {URL}")
    ingest.metric(LONG_NAME, 1.7e308)
    ingest.activity("x" * 500, actor="a" * 64)
    page = open_page(viewport=PHONE)
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    ingest.metric("arrives_live", 123456789012345678)
    expect(card(page, "arrives_live")).to_have_count(1, timeout=LIVE_MS)

    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == PHONE["width"], f"the page scrolls sideways: {widths}"
    browser_log.assert_clean()

"""A private board in Chromium: logging in through the form, and a wall screen opened from a
viewer link that goes live and is sent back to the login page when the link is revoked."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.dom import LIVE_MS, card_value, expect_status
from tests.browser.observe import SSE_ERROR_LOGGED, BrowserLog, Kind, Noise, stream_failure, stream_status
from tests.support.server import LiveServer, MakeServer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
TOKEN = "browser-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOGGED_OUT_MS = 10_000
"""The revoked stream ends at once; the browser retries after `retry:` (2 s), is refused, and
the page asks whether it is still logged in."""

WRONG_PASSWORD_LOGGED = Noise(
    Kind.console_error,
    "Failed to load resource: the server responded with a status of 401 (Unauthorized)",
    "/login",
    "a wrong password is answered with 401 and the form again",
)


@pytest.fixture
def private(make_server: MakeServer) -> LiveServer:
    return make_server({"LIVEDASH_VIEWER_PASSWORD": PASSWORD, "LIVEDASH_INGEST_TOKEN": TOKEN}).start()


def ingest_metric(server: LiveServer, name: str, value: float) -> None:
    response = httpx.post(server.url + "/api/metrics", json=[{"name": name, "value": value}], headers=AUTH)
    assert response.status_code == 202, response.text


def test_logging_in_through_the_form_shows_the_live_board(
    page: Page, private: LiveServer, browser_log: BrowserLog
) -> None:
    page.goto(private.url + "/")
    expect(page).to_have_url(private.url + "/login")
    expect(page.locator("h1")).to_have_text("livedash")
    page.fill("#password", "not it")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong password.")
    browser_log.expect(WRONG_PASSWORD_LOGGED)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(private.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    ingest_metric(private, "logged_in_orders", 42)
    expect(card_value(page, "logged_in_orders")).to_have_attribute("data-value", "42", timeout=LIVE_MS)
    browser_log.expect(*stream_failure("net::ERR_ABORTED"))  # leaving the page ends its stream
    page.click(".topbar__logout button")
    expect(page).to_have_url(private.url + "/login")
    browser_log.assert_clean()


def test_a_screen_opened_from_a_link_goes_live_and_revoking_the_link_sends_it_to_login(
    page: Page, private: LiveServer, browser_log: BrowserLog
) -> None:
    made = httpx.post(private.url + "/api/viewer-links", json={"label": "lobby tv"}, headers=AUTH).json()
    secret = made["url"].rsplit("/", 1)[1]
    page.goto(made["url"])
    expect(page).to_have_url(private.url + "/")  # the secret is gone from the address bar
    expect_status(page, "live", timeout=LIVE_MS)
    assert secret not in page.evaluate("document.referrer + ' ' + window.location.href")
    ingest_metric(private, "lobby_visitors", 7)
    expect(card_value(page, "lobby_visitors")).to_have_attribute("data-value", "7", timeout=LIVE_MS)

    browser_log.expect(
        SSE_ERROR_LOGGED,
        stream_status(401, "Unauthorized"),
        *stream_failure("net::ERR_ABORTED"),
    )
    revoked = httpx.delete(private.url + f"/api/viewer-links/{made['id']}", headers=AUTH)
    assert revoked.status_code == 200
    expect(page).to_have_url(re.compile(re.escape(private.url) + "/login$"), timeout=LOGGED_OUT_MS)
    expect(page.locator("#password")).to_be_visible()
    browser_log.assert_clean()

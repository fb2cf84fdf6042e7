"""Pages that refresh themselves: in dev mode when a template or CSS file changes, and in
production when the server they reconnect to runs another build (a deploy).

Each test serves a copy of the checkout (tests/support/server.py copy_checkout), so editing
its templates and static files never touches the repository's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.dom import LIVE_MS, RECONNECT_MS, expect_status, mark_document
from tests.browser.factories import PageFactory
from tests.browser.observe import (
    RELOAD_ABORTS_STREAM,
    SSE_ERROR_LOGGED,
    BrowserLog,
    stream_failure,
    stream_status,
)
from tests.support.server import MakeServer, copy_checkout

pytestmark = pytest.mark.browser

DEV_EDIT_MS = 2_000
"""A designer sees an edit in an open page this fast, without touching Python."""


def is_same_document(page: Page) -> bool:
    """Whether the document `mark_document` tagged is still the one shown."""
    return bool(page.evaluate("window.__livedashTestMark === 'same document'"))


def test_dev_mode_refreshes_an_open_page_when_a_template_and_then_a_css_file_change(
    open_page: PageFactory, make_server: MakeServer, tmp_path: Path, browser_log: BrowserLog
) -> None:
    checkout = copy_checkout(tmp_path)
    server = make_server({"LIVEDASH_DEV": "1"}, cwd=checkout, app_dir=checkout).start()
    page = open_page()
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    heading = page.locator("#activity-heading")
    expect(heading).to_have_text("Activity")
    mark_document(page)
    browser_log.expect(RELOAD_ABORTS_STREAM)

    template = checkout / "templates" / "pages" / "dashboard.html"
    template.write_text(template.read_text().replace(">Activity</h2>", ">Happenings</h2>"))
    expect(heading).to_have_text("Happenings", timeout=DEV_EDIT_MS)
    assert not is_same_document(page)  # the page reloaded itself
    expect_status(page, "live", timeout=LIVE_MS)

    stylesheet = checkout / "static" / "livedash.css"
    stylesheet.write_text(stylesheet.read_text() + "\n.feed__heading { color: rgb(1, 2, 3); }\n")
    expect(heading).to_have_css("color", "rgb(1, 2, 3)", timeout=DEV_EDIT_MS)
    browser_log.assert_clean()


def test_after_a_deploy_with_a_changed_stylesheet_an_open_page_reloads_itself_once(
    open_page: PageFactory, make_server: MakeServer, tmp_path: Path, browser_log: BrowserLog
) -> None:
    checkout = copy_checkout(tmp_path)
    server = make_server(cwd=checkout, app_dir=checkout).start()
    page = open_page()
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    old_build = page.locator("html").get_attribute("data-build")
    title = page.locator("[data-js-title]")
    expect(title).to_have_css("letter-spacing", "0.2px")  # 0.01em of 20px
    mark_document(page)
    # The stream ends with the old server and fails until the new one answers; then a reload.
    browser_log.expect(SSE_ERROR_LOGGED, *stream_failure("net::ERR_CONNECTION_REFUSED"), RELOAD_ABORTS_STREAM)

    server.stop()
    expect_status(page, "reconnecting", timeout=RECONNECT_MS)
    stylesheet = checkout / "static" / "livedash.css"
    stylesheet.write_text(stylesheet.read_text() + "\n[data-js-title] { letter-spacing: 3px; }\n")
    server.start()

    expect(title).to_have_css("letter-spacing", "3px", timeout=RECONNECT_MS)
    new_build = page.locator("html").get_attribute("data-build")
    assert new_build is not None and new_build != old_build
    assert not is_same_document(page)
    expect_status(page, "live", timeout=LIVE_MS)
    # Once: the reloaded page, rendered by the new build, is not told to reload again.
    assert page.evaluate("JSON.parse(sessionStorage.getItem('livedash-heal')).reloadedFor") == new_build
    browser_log.assert_clean()


def test_a_page_without_a_working_stream_reloads_itself_with_backoff_once_the_server_answers(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """Every stream request answered 502 (a proxy in trouble) while the server itself answers:
    after LIVEDASH_HEAL_AFTER_SECONDS the page reloads, counts the attempt, and once streams
    work again it is live and the count is back to 0."""
    server = make_server({"LIVEDASH_HEAL_AFTER_SECONDS": "2"}).start()
    page = open_page()
    stream = f"{server.url}/dashboard/stream**"
    page.route(stream, lambda route: route.fulfill(status=502, body="bad gateway"))
    browser_log.expect(SSE_ERROR_LOGGED, stream_status(502, "Bad Gateway"), RELOAD_ABORTS_STREAM)
    page.goto(server.url + "/")
    expect_status(page, "reconnecting", timeout=LIVE_MS)
    mark_document(page)
    page.wait_for_function("() => window.__livedashTestMark === undefined", timeout=RECONNECT_MS)
    assert page.evaluate("JSON.parse(sessionStorage.getItem('livedash-heal')).attempts") == 1
    expect(page.locator("[data-js-status]")).not_to_have_attribute("data-state", "live")  # never claims live

    page.unroute(stream)
    expect_status(page, "live", timeout=RECONNECT_MS)
    assert page.evaluate("JSON.parse(sessionStorage.getItem('livedash-heal')).attempts") == 0
    browser_log.assert_clean()


def test_a_production_page_does_not_listen_for_dev_reloads(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    server = make_server().start()
    page = open_page()
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    expect(page.locator("html")).not_to_have_attribute("data-dev", "")
    browser_log.assert_clean()

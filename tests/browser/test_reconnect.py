"""The page keeps itself connected: after a server restart, a dropped connection, a 502."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.dom import (
    LIVE_MS,
    NOW_MS,
    RECONNECT_MS,
    assert_same_document,
    card,
    card_value,
    expect_status,
    feed_items,
    feed_messages,
    mark_document,
    wait_processed,
)
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import SSE_ERROR_LOGGED, STREAM_PATH, BrowserLog, stream_failure, stream_status
from tests.browser.proxy import CuttableProxy, Mode
from tests.support.server import LiveServer, MakeServer

pytestmark = pytest.mark.browser


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[CuttableProxy]:
    """A proxy in front of `server`. Request it before `open_page`, so that it closes after the pages."""
    with CuttableProxy(server.port) as forwarder:
        yield forwarder


def test_page_reconnects_to_a_restarted_server(
    page: Page, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """SIGTERM, a new server on the same port: `reconnecting`, then `live`, then its data, no reload."""
    old = make_server().start()
    with Ingest(old.url) as api:
        api.metric("orders", 10)
        api.activity("before the restart")
    page.goto(old.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)
    # The stream ends with the old server; Chromium retries it every `retry` ms until one answers.
    browser_log.expect(SSE_ERROR_LOGGED, *stream_failure("net::ERR_CONNECTION_REFUSED"))

    old.stop()
    expect_status(page, "reconnecting", timeout=LIVE_MS)
    new = make_server(port=old.port).start()
    with Ingest(new.url) as api:
        api.metric("orders", 42)

        expect_status(page, "live", timeout=RECONNECT_MS)
        # The old id is unknown to the new server: a snapshot replaces every region.
        expect(card_value(page, "orders")).to_have_attribute("data-value", "42", timeout=RECONNECT_MS)
        expect(page.locator("#metrics-grid > article")).to_have_count(1, timeout=NOW_MS)
        expect(feed_items(page)).to_have_count(0, timeout=NOW_MS)
        # The cards it brought in swap their own updates.
        wait_processed(card(page, "orders"))
        api.metric("orders", 43)
        expect(card_value(page, "orders")).to_have_attribute("data-value", "43", timeout=LIVE_MS)

    assert_same_document(page)
    browser_log.assert_clean()


def test_stream_resumes_without_loss_after_the_connection_drops(
    proxy: CuttableProxy, open_page: PageFactory, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """The connection breaks mid-stream; Chromium reconnects with Last-Event-ID and gets what it missed."""
    ingest.activity("rendered 1")
    ingest.activity("rendered 2")
    ingest.metric("backlog", 1)
    page = open_page()
    page.goto(proxy.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)
    ingest.activity("live 1")
    expect(feed_items(page).first.locator(".feed__message")).to_have_text("live 1", timeout=LIVE_MS)
    browser_log.expect(SSE_ERROR_LOGGED, *stream_failure("net::ERR_INCOMPLETE_CHUNKED_ENCODING"))

    proxy.set_mode(Mode.hold)  # the reconnection waits at the proxy until released
    proxy.cut()
    expect_status(page, "reconnecting", timeout=LIVE_MS)
    for n in (1, 2, 3):
        ingest.activity(f"missed {n}")
    ingest.metric("backlog", 2)
    assert feed_messages(page) == ["live 1", "rendered 2", "rendered 1"]
    proxy.release()

    expect_status(page, "live", timeout=RECONNECT_MS)
    expect(feed_items(page).first.locator(".feed__message")).to_have_text("missed 3", timeout=LIVE_MS)
    assert feed_messages(page) == ["missed 3", "missed 2", "missed 1", "live 1", "rendered 2", "rendered 1"]
    expect(card_value(page, "backlog")).to_have_attribute("data-value", "2", timeout=LIVE_MS)
    assert_same_document(page)
    browser_log.assert_clean()


def test_stream_resumes_without_loss_after_a_bad_gateway(
    proxy: CuttableProxy, open_page: PageFactory, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """A 502 ends the EventSource for good; the new one livedash.js makes resumes from the last id seen."""
    ingest.activity("rendered 1")
    page = open_page()
    stream_urls: list[str] = []

    def remember_stream(request: Request) -> None:
        if urlsplit(request.url).path == STREAM_PATH:
            stream_urls.append(request.url)

    page.on("request", remember_stream)
    page.goto(proxy.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)
    last_seen = ingest.activity("live 1")
    expect(feed_items(page).first.locator(".feed__message")).to_have_text("live 1", timeout=LIVE_MS)
    browser_log.expect(
        SSE_ERROR_LOGGED,
        *stream_failure("net::ERR_INCOMPLETE_CHUNKED_ENCODING"),
        stream_status(502, "Bad Gateway"),
        # The EventSource closes itself on the 502; Chromium then reports that response's
        # request as aborted, or not, depending on timing.
        *stream_failure("net::ERR_ABORTED"),
    )

    proxy.set_mode(Mode.bad_gateway)
    proxy.cut()
    proxy.wait_for_bad_gateway(STREAM_PATH, timeout=RECONNECT_MS / 1000)
    expect_status(page, "reconnecting", timeout=LIVE_MS)
    for n in (1, 2):
        ingest.activity(f"missed {n}")
    proxy.release()

    expect_status(page, "live", timeout=RECONNECT_MS)
    expect(feed_items(page).first.locator(".feed__message")).to_have_text("missed 2", timeout=LIVE_MS)
    assert feed_messages(page) == ["missed 2", "missed 1", "live 1", "rendered 1"]
    assert parse_qs(urlsplit(stream_urls[-1]).query)["lastEventId"] == [last_seen]
    assert_same_document(page)
    browser_log.assert_clean()


def test_silent_dead_connection_is_noticed_and_resumed(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """No error, no FIN, just silence (a sleeping laptop, a forgetful NAT): after two missed
    heartbeats the page drops the line itself and resumes from the last id it saw."""
    server = make_server({"LIVEDASH_HEARTBEAT_SECONDS": "0.5"}).start()
    with CuttableProxy(server.port) as silent, Ingest(server.url) as api:
        api.activity("rendered 1")
        page = open_page()
        page.goto(silent.url + "/")
        expect_status(page, "live", timeout=LIVE_MS)
        mark_document(page)
        api.activity("live 1")
        expect(feed_items(page).first.locator(".feed__message")).to_have_text("live 1", timeout=LIVE_MS)
        browser_log.expect(SSE_ERROR_LOGGED, *stream_failure("net::ERR_ABORTED"))

        silent.silence()
        for n in (1, 2):
            api.activity(f"missed {n}")
        # Nothing arrives while the line is silent; the watchdog notices within 2 x 0.5 s + 1 s.
        expect_status(page, "reconnecting", timeout=4_000)
        expect_status(page, "live", timeout=RECONNECT_MS)
        expect(feed_items(page).first.locator(".feed__message")).to_have_text("missed 2", timeout=LIVE_MS)
        assert feed_messages(page) == ["missed 2", "missed 1", "live 1", "rendered 1"]
        assert_same_document(page)
        page.close()
    browser_log.assert_clean()


def test_page_resumes_across_a_restart_of_the_durable_server(
    make_server: MakeServer, open_page: PageFactory, browser_log: BrowserLog, tmp_path: Path
) -> None:
    """SQLite keeps the state and the replay window: a page that lost its stream, then saw the
    server restart, resumes with its last id and shows what it missed, without a reload."""
    env = {"LIVEDASH_DB_PATH": str(tmp_path / "livedash.sqlite3")}
    old = make_server(env).start()
    with CuttableProxy(old.port) as proxy:
        with Ingest(old.url) as api:
            api.metric("orders", 10)
            api.activity("rendered")
            page = open_page()
            page.goto(proxy.url + "/")
            expect_status(page, "live", timeout=LIVE_MS)
            mark_document(page)
            api.activity("live 1")
            expect(feed_items(page).first.locator(".feed__message")).to_have_text("live 1", timeout=LIVE_MS)
            browser_log.expect(SSE_ERROR_LOGGED, *stream_failure("net::ERR_INCOMPLETE_CHUNKED_ENCODING"))

            proxy.set_mode(Mode.hold)  # the reconnection waits at the proxy until released
            proxy.cut()
            expect_status(page, "reconnecting", timeout=LIVE_MS)
            api.activity("missed 1")
            api.metric("orders", 11)
        old.stop()
        new = make_server(env, port=old.port).start()
        with Ingest(new.url) as api:
            api.activity("after the restart")
            proxy.release()
            expect_status(page, "live", timeout=RECONNECT_MS)
            expect(feed_items(page).first.locator(".feed__message")).to_have_text(
                "after the restart", timeout=LIVE_MS
            )
            assert feed_messages(page) == ["after the restart", "missed 1", "live 1", "rendered"]
            expect(card_value(page, "orders")).to_have_attribute("data-value", "11", timeout=LIVE_MS)
            wait_processed(card(page, "orders"))
            api.metric("orders", 12)
            expect(card_value(page, "orders")).to_have_attribute("data-value", "12", timeout=LIVE_MS)
        assert_same_document(page)
        browser_log.assert_clean()

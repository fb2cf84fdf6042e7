"""The dashboard page in a real browser: first render, then metric cards, feed and alerts live."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.dom import (
    LIVE_MS,
    NOW_MS,
    assert_same_document,
    banner,
    card,
    card_value,
    expect_status,
    feed_items,
    feed_messages,
    mark_document,
    status,
    wait_processed,
)
from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import LiveServer, MakeServer

pytestmark = pytest.mark.browser


def has_class(name: str) -> re.Pattern[str]:
    """For `to_have_class`: the class list contains `name`."""
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def grid_ids(page: Page) -> list[str]:
    """Ids of the cards in the grid, in page order."""
    ids: list[str] = page.locator("#metrics-grid > article").evaluate_all("els => els.map(e => e.id)")
    return ids


def test_page_is_complete_without_any_event(
    open_page: PageFactory, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """With scripts off no event can ever arrive: what shows is the server's first render."""
    ingest.metrics([("cpu_load", 0.42), ("page_views", 120345), ("revenue", 48210.5)])
    ingest.activity("deployed web@1234", actor="ada", level="success")
    ingest.alert("db-latency", "warning", "DB latency high", "p95 above 300 ms")
    page = open_page(java_script_enabled=False)

    response = page.goto(server.url + "/")

    assert response is not None
    assert response.status == 200
    assert grid_ids(page) == ["metric-cpu_load", "metric-page_views", "metric-revenue"]
    expect(card_value(page, "cpu_load")).to_have_attribute("data-value", "0.42", timeout=NOW_MS)
    expect(card_value(page, "page_views")).to_have_attribute("data-value", "120345", timeout=NOW_MS)
    expect(card_value(page, "page_views")).to_have_text("120,345", timeout=NOW_MS)
    expect(card_value(page, "revenue")).to_have_attribute("data-value", "48210.5", timeout=NOW_MS)
    assert feed_messages(page) == ["deployed web@1234"]
    expect(banner(page, "db-latency")).to_have_class(has_class("warning"), timeout=NOW_MS)
    expect(status(page)).to_have_attribute("data-state", "connecting", timeout=NOW_MS)
    browser_log.assert_clean()


def test_metric_cards_update_live(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """Cards rendered first, `live` within 2 s, then a new value and a new metric without reload."""
    ingest.metrics([("cpu_load", 0.42), ("page_views", 120345)])

    page.goto(server.url + "/")

    # Complete before any event: nothing was ingested since the render.
    assert grid_ids(page) == ["metric-cpu_load", "metric-page_views"]
    assert card_value(page, "cpu_load").get_attribute("data-value") == "0.42"
    assert card_value(page, "page_views").get_attribute("data-value") == "120345"
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)

    ingest.metric("cpu_load", 0.97)
    expect(card_value(page, "cpu_load")).to_have_attribute("data-value", "0.97", timeout=LIVE_MS)
    expect(card_value(page, "cpu_load")).to_have_text("0.97", timeout=NOW_MS)
    expect(card(page, "cpu_load")).to_have_attribute("data-trend", "up", timeout=NOW_MS)
    expect(card_value(page, "page_views")).to_have_attribute("data-value", "120345", timeout=NOW_MS)

    ingest.metric("disk.used_pct", 71.5)  # a name never seen, with a dot in it
    expect(card_value(page, "disk.used_pct")).to_have_attribute("data-value", "71.5", timeout=LIVE_MS)
    assert grid_ids(page) == ["metric-cpu_load", "metric-page_views", "metric-disk.used_pct"]
    expect(card(page, "disk.used_pct").locator(".card__label")).to_have_text("Disk used pct", timeout=NOW_MS)

    assert_same_document(page)
    browser_log.assert_clean()


def test_activity_item_is_prepended_live(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """A posted line becomes the feed's first item within 2 s, above the rendered ones."""
    ingest.activity("first rendered")
    ingest.activity("second rendered", actor="grace", level="warning")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)

    ingest.activity("posted live", actor="linus", level="error")

    newest = feed_items(page).first
    expect(newest.locator(".feed__message")).to_have_text("posted live", timeout=LIVE_MS)
    expect(newest.locator(".feed__actor")).to_have_text("linus", timeout=NOW_MS)
    expect(newest).to_have_class(has_class("feed__item--error"), timeout=NOW_MS)
    assert feed_messages(page) == ["posted live", "second rendered", "first rendered"]
    assert_same_document(page)
    browser_log.assert_clean()


def test_activity_feed_keeps_only_the_newest_items(
    open_page: PageFactory, make_server: MakeServer, browser_log: BrowserLog
) -> None:
    """LIVEDASH_FEED_SIZE=5 and 8 lines posted live: exactly 5 items, newest first."""
    server = make_server({"LIVEDASH_FEED_SIZE": "5"}).start()
    page = open_page()
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    with Ingest(server.url) as api:
        for n in range(1, 9):
            api.activity(f"item {n}")

    expect(feed_items(page).first.locator(".feed__message")).to_have_text("item 8", timeout=LIVE_MS)
    expect(feed_items(page)).to_have_count(5, timeout=NOW_MS)
    newest_five = ["item 8", "item 7", "item 6", "item 5", "item 4"]
    assert feed_messages(page) == newest_five
    ids: list[str] = feed_items(page).evaluate_all("els => els.map(e => e.id)")
    assert len(set(ids)) == 5, ids

    # A page opened now renders the same five, in the same order.
    fresh = open_page()
    fresh.goto(server.url + "/")
    assert feed_messages(fresh) == newest_five
    expect_status(fresh, "live", timeout=LIVE_MS)
    browser_log.assert_clean()


def test_alert_banner_appears_is_replaced_and_goes_away(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """POST shows a banner (severity class, role=alert); same id again replaces it; DELETE removes it."""
    ingest.alert("disk-full", "warning", "Disk 91% full")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)
    mark_document(page)

    ingest.alert("db-down", "critical", "Database unreachable", "primary is not answering")
    db_down = banner(page, "db-down")
    expect(db_down).to_have_count(1, timeout=LIVE_MS)
    expect(db_down).to_have_class(has_class("critical"), timeout=NOW_MS)
    expect(db_down).to_have_attribute("role", "alert", timeout=NOW_MS)
    expect(db_down.locator(".alert__title")).to_have_text("Database unreachable", timeout=NOW_MS)
    expect(db_down.locator(".alert__message")).to_have_text("primary is not answering", timeout=NOW_MS)
    ids: list[str] = page.locator("#alerts > *").evaluate_all("els => els.map(e => e.id)")
    assert ids == ["alert-db-down", "alert-disk-full"], "a new banner goes on top"

    wait_processed(db_down)
    ingest.alert("db-down", "critical", "Database read-only")
    expect(db_down.locator(".alert__title")).to_have_text("Database read-only", timeout=LIVE_MS)
    expect(db_down.locator(".alert__message")).to_have_count(0, timeout=NOW_MS)
    expect(page.locator('[id="alert-db-down"]')).to_have_count(1, timeout=NOW_MS)
    expect(page.locator("#alerts > *")).to_have_count(2, timeout=NOW_MS)

    ingest.resolve("db-down")
    expect(page.locator('[id="alert-db-down"]')).to_have_count(0, timeout=LIVE_MS)
    expect(banner(page, "disk-full")).to_have_class(has_class("warning"), timeout=NOW_MS)
    expect(page.locator("#alerts > *")).to_have_count(1, timeout=NOW_MS)
    assert_same_document(page)
    browser_log.assert_clean()


# --- regressions -----------------------------------------------------------------------------


def test_back_to_back_updates_of_one_card_are_not_lost(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """Two readings of one metric in one batch: the card must end on the second.

    Regression: htmx processed a swapped-in card (and so registered its `sse-swap` listener)
    only when the swap settled, 20 ms later; the second `metric-<name>` event arrived before
    that and the detached old card's listener dropped it (fixed by `defaultSettleDelay: 0`).
    """
    ingest.metric("queue_depth", 10)
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    ingest.metrics([("queue_depth", 11), ("queue_depth", 12)])

    expect(card_value(page, "queue_depth")).to_have_attribute("data-value", "12", timeout=LIVE_MS)
    browser_log.assert_clean()


def test_back_to_back_readings_of_a_new_metric_are_not_lost(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """A new metric's first two readings in one batch: `new-metric`, then `metric-<name>` at once.

    Regression: htmx attached the appended card's listener only after its 20 ms settle delay.
    """
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    ingest.metrics([("jobs_done", 1), ("jobs_done", 2)])

    expect(card_value(page, "jobs_done")).to_have_attribute("data-value", "2", timeout=LIVE_MS)
    browser_log.assert_clean()


def test_metric_named_new_keeps_its_own_card(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """`new` is a valid metric name; its card's event must not be the grid's event for new cards.

    Regression: the grid's event was `metric-new`, so the card of `new` was replaced by the next
    new metric's card.
    """
    ingest.metric("new", 1)
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    ingest.metric("other", 2)

    expect(card(page, "other").first).to_be_attached(timeout=LIVE_MS)
    assert grid_ids(page) == ["metric-new", "metric-other"]
    expect(card_value(page, "new")).to_have_attribute("data-value", "1", timeout=NOW_MS)
    browser_log.assert_clean()


def test_alert_named_resolved_survives_another_alert_resolving(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """`resolved` is a valid alert id; its banner's event must not be the resolution event.

    Regression: resolutions were `alert-resolved`, so resolving any alert also removed the
    `resolved` banner.
    """
    ingest.alert("resolved", "info", "Incident resolved, still watching")
    ingest.alert("api-5xx", "critical", "API errors above 2%")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    ingest.resolve("api-5xx")

    expect(banner(page, "api-5xx")).to_have_count(0, timeout=LIVE_MS)
    expect(banner(page, "resolved")).to_have_count(1, timeout=NOW_MS)
    browser_log.assert_clean()


def test_page_names_an_icon_the_server_serves(
    page: Page, server: LiveServer, browser_log: BrowserLog
) -> None:
    """Without `<link rel=icon>` Chromium fetches /favicon.ico; a 404 there is a console error."""
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    hrefs: list[str] = page.locator('link[rel~="icon"]').evaluate_all("els => els.map(e => e.href)")
    assert [urlsplit(href)[:3] for href in hrefs] == [urlsplit(server.url + "/static/favicon.svg")[:3]]
    response = page.request.get(hrefs[0])
    assert (response.status, response.headers["content-type"]) == (200, "image/svg+xml"), hrefs[0]
    browser_log.assert_clean()


def test_tab_title_counts_open_alerts(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """A background tab still tells: "(2) livedash" while two alerts are open."""
    ingest.alert("first", "warning", "one")
    page.goto(server.url + "/")
    expect(page).to_have_title("(1) livedash", timeout=NOW_MS)
    expect_status(page, "live", timeout=LIVE_MS)
    ingest.alert("second", "critical", "two")
    expect(page).to_have_title("(2) livedash", timeout=LIVE_MS)
    ingest.resolve("first")
    ingest.resolve("second")
    expect(page).to_have_title("livedash", timeout=LIVE_MS)
    browser_log.assert_clean()

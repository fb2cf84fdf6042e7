"""Fixtures for the browser tests: one Chromium per session, a fresh context per page, real servers.

Every page is watched by the test's `BrowserLog`; after the test the pages are closed and the
log must hold nothing unexpected (tests also assert that themselves, at their end, so that a
problem shows as the test's failure rather than as a teardown error).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.browser.factories import PageFactory
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog
from tests.support.server import LiveServer, MakeServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver, for the browser tests only: its event loop must be gone before
    the async integration tests start theirs."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the browser tests (Playwright downloads nothing)."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """Servers of this test's own, not started; stopped afterwards, and none may have logged a traceback."""
    make = MakeServer()
    yield make
    make.stop_all()
    for server in make.made:
        log = server.log()
        assert "Traceback" not in log, f"server on port {server.port} logged a traceback:\n{log}"


@pytest.fixture
def server(make_server: MakeServer) -> LiveServer:
    """A server with the default settings (demo source off)."""
    return make_server().start()


@pytest.fixture
def ingest(server: LiveServer) -> Iterator[Ingest]:
    """The ingest API of `server`."""
    with Ingest(server.url) as api:
        yield api


@pytest.fixture
def browser_log() -> BrowserLog:
    """Console errors/warnings, page errors and failed requests of every page of this test."""
    return BrowserLog()


@pytest.fixture
def open_page(browser: Browser, browser_log: BrowserLog, make_server: MakeServer) -> Iterator[PageFactory]:
    """Open watched pages, each in a fresh context; closed (before the servers stop) and checked after."""
    contexts: list[BrowserContext] = []

    def open_(**context_options: Any) -> Page:
        context = browser.new_context(**{"viewport": VIEWPORT, **context_options})
        contexts.append(context)
        page = context.new_page()
        browser_log.watch(page)
        return page

    yield open_
    browser_log.flush()
    browser_log.closing = True
    for context in contexts:
        context.close()
    browser_log.assert_clean()


@pytest.fixture
def page(open_page: PageFactory) -> Page:
    """A fresh watched page."""
    return open_page()

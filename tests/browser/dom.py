"""Locators and waits for the dashboard page, shared by the browser tests."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

LIVE_MS = 2_000
"""How fast an ingested fact must show on an open page (the acceptance criterion)."""

NOW_MS = 500
"""For what must already be true: the short wait only spares a retry of Playwright's polling."""

RECONNECT_MS = 15_000
"""How long a page may take to find a restarted server by itself."""

_ADDED = re.compile(r"(^|\s)htmx-added(\s|$)")


def status(page: Page) -> Locator:
    """The connection indicator in the header."""
    return page.locator("#connection-status")


def expect_status(page: Page, state: str, timeout: float) -> None:
    """`#connection-status` says `state`, in its data-state and its text."""
    expect(status(page)).to_have_attribute("data-state", state, timeout=timeout)
    expect(status(page)).to_have_text(state, timeout=timeout)


def card(page: Page, name: str) -> Locator:
    """The metric card of `name` in the grid (attribute selector: names may contain dots)."""
    return page.locator(f'#metrics-grid > article[id="metric-{name}"]')


def placed_card(page: Page, name: str) -> Locator:
    """The metric card of `name` in the dashboard file's sections."""
    return page.locator(f'#board-sections article[id="metric-{name}"]')


def card_value(page: Page, name: str) -> Locator:
    """The element carrying a card's raw number in `data-value`."""
    return card(page, name).locator("[data-value]")


def feed_items(page: Page) -> Locator:
    """The activity feed's items, newest first."""
    return page.locator("#activity-feed > li")


def feed_messages(page: Page) -> list[str]:
    """The feed's messages as shown, newest first."""
    return feed_items(page).locator(".feed__message").all_inner_texts()


def banner(page: Page, alert_id: str) -> Locator:
    """The banner of alert `alert_id` in #alerts."""
    return page.locator(f'#alerts > [id="alert-{alert_id}"]')


def wait_processed(locator: Locator) -> None:
    """Wait until htmx has finished swapping `locator` in ("settled": `htmx-added` is gone).

    htmx registers an element's own `sse-swap` listener only then, 20 ms after it is swapped
    in; the next event for that element must not be sent earlier, or it is lost (the app bug
    test_dashboard.py::test_back_to_back_updates_of_one_card_are_not_lost shows). Tests that
    update the same element twice in a row wait for this first, as a person-paced update would.
    """
    expect(locator).to_have_count(1, timeout=LIVE_MS)
    expect(locator).not_to_have_class(_ADDED, timeout=LIVE_MS)


def mark_document(page: Page) -> None:
    """Tag the current document, to tell later that the page was not reloaded."""
    page.evaluate("window.__livedashTestMark = 'same document'")


def assert_same_document(page: Page) -> None:
    """The document tagged by `mark_document` is still the one shown (no reload, no navigation)."""
    assert page.evaluate("window.__livedashTestMark") == "same document", "the page was reloaded"


def one_line_inside(value: Locator) -> dict[str, Any]:
    """How a card's number lies: on how many lines, and whether it reaches past its card."""
    facts: dict[str, Any] = value.evaluate(
        """el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            // A new line starts below everything before it (a smaller unit on the same
            // line only sits a little lower, overlapping the number's box).
            const rects = [...range.getClientRects()].filter(r => r.width > 0).sort((a, b) => a.top - b.top);
            let lines = 0, bottom = -Infinity;
            for (const r of rects) {
                if (r.top >= bottom - 1) { lines += 1; }
                bottom = Math.max(bottom, r.bottom);
            }
            const box = el.getBoundingClientRect(), card = el.closest("article").getBoundingClientRect();
            return {lines, inside: box.right <= card.right && el.scrollWidth <= el.clientWidth};
        }"""
    )
    return facts

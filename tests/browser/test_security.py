"""User text stays text, and the Content-Security-Policy is strict and enforced."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.dom import LIVE_MS, NOW_MS, banner, expect_status, feed_items, wait_processed
from tests.browser.ingest import Ingest
from tests.browser.observe import BrowserLog, Kind
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
INJECTED = "#activity-feed img, #activity-feed script, #alerts img, #alerts script"


def test_user_text_is_shown_as_text(
    page: Page, server: LiveServer, ingest: Ingest, browser_log: BrowserLog
) -> None:
    """Markup in activity message/actor and alert title/message, rendered first and pushed live."""
    ingest.activity(f"rendered {SCRIPT} {IMG}", actor=IMG)
    ingest.alert("xss-rendered", "critical", f"rendered {SCRIPT}", f"rendered {IMG}")
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    ingest.activity(f"live {IMG} {SCRIPT}", actor=SCRIPT)
    ingest.alert("xss-live", "warning", f"live {IMG}", f"live {SCRIPT}")
    live_banner = banner(page, "xss-live")
    wait_processed(live_banner)
    ingest.alert("xss-live", "critical", f"updated {SCRIPT}{IMG}", f"updated {IMG}{SCRIPT}")

    expect(live_banner.locator(".alert__title")).to_have_text(f"updated {SCRIPT}{IMG}", timeout=LIVE_MS)
    expect(feed_items(page)).to_have_count(2, timeout=LIVE_MS)
    live_item, rendered_item = feed_items(page).all()
    assert live_item.inner_text().split("\n")[1:] == [SCRIPT, f"live {IMG} {SCRIPT}"]
    assert rendered_item.inner_text().split("\n")[1:] == [IMG, f"rendered {SCRIPT} {IMG}"]
    alerts = page.locator("#alerts").inner_text()
    for shown in (f"updated {IMG}{SCRIPT}", f"rendered {SCRIPT}", f"rendered {IMG}"):
        assert shown in alerts
    expect(page.locator(INJECTED)).to_have_count(0, timeout=NOW_MS)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    browser_log.assert_clean()


def test_csp_header_allows_only_own_scripts(page: Page, server: LiveServer, browser_log: BrowserLog) -> None:
    """`script-src 'self'`, no unsafe-inline/unsafe-eval; and the page needs nothing more."""
    response = page.goto(server.url + "/")
    assert response is not None

    policy = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], policy
    assert "unsafe-inline" not in policy, policy
    assert "unsafe-eval" not in policy, policy
    # Nothing on the page relies on inline code or style the policy would block.
    inline: int = page.evaluate(
        """() => document.querySelectorAll('script:not([src]), [style]').length
            + [...document.querySelectorAll('*')].filter(
                e => [...e.attributes].some(a => a.name.startsWith('on'))).length"""
    )
    assert inline == 0
    expect_status(page, "live", timeout=LIVE_MS)
    browser_log.assert_clean()


def test_csp_blocks_inline_script_and_the_log_reports_it(
    page: Page, server: LiveServer, browser_log: BrowserLog
) -> None:
    """The policy is enforced, and a violation reaches the BrowserLog every test asserts empty."""
    page.goto(server.url + "/")
    expect_status(page, "live", timeout=LIVE_MS)

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text, timeout=LIVE_MS):
        page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.textContent = 'window.__inline = 1';
                document.body.append(script);
            }"""
        )

    assert page.evaluate("typeof window.__inline") == "undefined"
    browser_log.flush()
    unexpected = browser_log.unexpected()  # the violation alone, and it would make a test fail
    assert [(p.kind, p.is_csp_violation) for p in unexpected] == [(Kind.console_error, True)], unexpected
    assert browser_log.take(Kind.console_error, "Content Security Policy") == unexpected
    assert "script-src 'self'" in unexpected[0].text
    browser_log.assert_clean()

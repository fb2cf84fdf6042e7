"""User text cannot forge SSE fields or inject markup: escaped in HTML, exact in JSON."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from tests.integration.helpers import (
    HTML_NEW_ALERT,
    HTML_STREAM,
    JSON_STREAM,
    open_stream,
    post_activity,
    raise_alert,
    unique,
)

pytestmark = pytest.mark.anyio

FORGERY = "\r\n\r\nevent: alert\ndata: x\r\rid: 9"
SCRIPT = "<script>alert(1)</script>"
MESSAGES = [FORGERY, SCRIPT, f"{FORGERY}\n{SCRIPT}\r\nretry: 1\n\n: comment\r\n"]


def as_sse_lines(text: str) -> str:
    """What any SSE reader gives back for a multi-line payload: every line break is `\\n`."""
    return re.sub(r"\r\n|\r", "\n", text)


@pytest.mark.parametrize("message", MESSAGES, ids=["forgery", "script", "both"])
async def test_html_stream_escapes_activity_and_cannot_be_forged(
    client: httpx.AsyncClient, message: str
) -> None:
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        activity_id = await post_activity(client, message, actor="mallory")
        event = await stream.next_event()
        assert stream.parser.last_id == activity_id
        marker = await post_activity(client, unique("marker"))
        following = await stream.next_event()

    # Exactly one event, with its real name and id, then the next real event: nothing forged.
    assert (event.event, event.id) == ("activity", activity_id)
    assert (following.event, following.id) == ("activity", marker)
    assert stream.parser.retry == 2000  # the default LIVEDASH_RETRY_MS, not a forged `retry: 1`
    assert "<script>" not in event.data
    if "<" in message:
        assert "&lt;script&gt;" in event.data
    span = re.search(r'<span class="feed__message">(.*?)</span>', event.data, re.DOTALL)
    assert span, event.data
    assert html.unescape(span.group(1)) == as_sse_lines(message)


@pytest.mark.parametrize("message", MESSAGES, ids=["forgery", "script", "both"])
async def test_json_stream_round_trips_activity_exactly(client: httpx.AsyncClient, message: str) -> None:
    async with open_stream(client, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        activity_id = await post_activity(client, message, actor="mallory")
        event = await stream.next_event()
        marker = await post_activity(client, unique("marker"))
        following = await stream.next_event()

    assert (event.event, event.id) == ("activity", activity_id)
    assert (following.event, following.id) == ("activity", marker)
    assert json.loads(event.data)["message"] == message


async def test_alert_text_is_escaped_and_exact(client: httpx.AsyncClient) -> None:
    alert_id = unique("xss")
    title = '<img src=x onerror="alert(1)">'
    message = f"{FORGERY} & {SCRIPT}"
    async with open_stream(client, HTML_STREAM) as page, open_stream(client, JSON_STREAM) as api:
        await page.next_event()
        await api.next_event()
        event_id = await raise_alert(client, alert_id, "critical", title, message)
        banner = await page.next_event()
        raw = await api.next_event()

    assert (banner.event, banner.id) == (HTML_NEW_ALERT, event_id)
    assert "<img" not in banner.data and "<script>" not in banner.data
    assert "&lt;img src=x onerror=" in banner.data
    assert (raw.event, raw.id) == ("alert", event_id)
    body = json.loads(raw.data)
    assert (body["title"], body["message"]) == (title, message)

"""Shared pieces of the integration tests: an SSE stream reader, ingest calls, HTML probes."""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import anyio
import httpx

from tests.support.server import LiveServer
from tests.support.sse_client import Event, Parser

TIMEOUT = httpx.Timeout(10.0)
HTML_STREAM = "/dashboard/stream"
JSON_STREAM = "/api/dashboard/stream"
STREAMS = {"html": HTML_STREAM, "json": JSON_STREAM}

# HTML event names for containers. The issue named them `metric-new`, `alert` and
# `alert-resolved`, but a metric called `new` or an alert called `resolved` then collides with
# them (`metric-<name>` / `alert-<id>` are a card's or a banner's own events), so the app names
# them with a leading word instead (commit 1de7147); test_stream_protocol.py checks the collision.
HTML_NEW_METRIC = "new-metric"
HTML_NEW_ALERT = "new-alert"
HTML_RESOLVED_ALERT = "resolved-alert"

StartServer = Callable[[Mapping[str, str]], LiveServer]
"""The `start_server` fixture: start a server of one's own with these `LIVEDASH_*` settings."""


def unique(prefix: str) -> str:
    """A name no other test uses (metric names and alert ids are `[a-z0-9_.-]{1,64}`)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class StreamEnded(AssertionError):
    """The server ended the response while the test still expected events."""


class SSEStream:
    """One open stream response, read event by event with `tests.support.sse_client.Parser`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.parser = Parser()
        self.text = ""
        self.ended = False
        self._chunks = response.aiter_text()
        self._ready: deque[Event] = deque()

    async def _read_chunk(self) -> bool:
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self.ended = True
            return False
        self.text += chunk
        self._ready.extend(self.parser.feed(chunk))
        return True

    async def next_event(self, timeout: float = 5.0, *, heartbeats: bool = False) -> Event:
        """The next event (heartbeats skipped unless asked for) within `timeout` seconds."""
        with anyio.fail_after(timeout):
            while True:
                while self._ready:
                    event = self._ready.popleft()
                    if heartbeats or event.event != "heartbeat":
                        return event
                if not await self._read_chunk():
                    raise StreamEnded(f"stream ended; received so far:\n{self.text}")

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The next `count` non-heartbeat events, all within `timeout` seconds."""
        with anyio.fail_after(timeout):
            return [await self.next_event(timeout) for _ in range(count)]

    async def first_frame(self, timeout: float = 5.0) -> str:
        """The raw text of the first frame (everything up to the first blank line)."""
        with anyio.fail_after(timeout):
            while "\n\n" not in self.text and not self.ended:
                await self._read_chunk()
        head, sep, _ = self.text.partition("\n\n")
        assert sep, f"no complete frame before the stream ended: {self.text!r}"
        return head

    async def read_to_end(self, timeout: float) -> list[Event]:
        """Everything until the server ends the response; fails if that takes over `timeout` s."""
        events: list[Event] = []
        with anyio.fail_after(timeout):
            while await self._read_chunk():
                pass
        events.extend(self._ready)
        self._ready.clear()
        return events


def frames(text: str) -> list[list[str]]:
    """The raw frames of a stream's text, as their lines (comments included)."""
    lines = re.sub(r"\r\n|\r", "\n", text).split("\n\n")
    return [frame.split("\n") for frame in lines if frame.strip("\n")]


def assert_every_event_frame_has_an_id(text: str) -> None:
    """Each frame that dispatches an event (has `data:`) carries its own `id:` field."""
    for frame in frames(text):
        if any(line.startswith("data:") for line in frame):
            assert any(line.startswith("id:") for line in frame), f"event without an id: {frame}"


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> AsyncIterator[SSEStream]:
    """GET a stream and hand back its reader; the response is closed on exit."""
    async with client.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200, response.status_code
        yield SSEStream(response)


# --- ingest ----------------------------------------------------------------------------


def _accepted(response: httpx.Response, status: int = 202) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return str(body["last_id"])


async def post_metrics(client: httpx.AsyncClient, points: list[dict[str, Any]]) -> str:
    """POST /api/metrics; the id of the last event it recorded."""
    return _accepted(await client.post("/api/metrics", json=points))


async def post_metric(client: httpx.AsyncClient, name: str, value: float, ts: float | None = None) -> str:
    """One reading; its event id."""
    point: dict[str, Any] = {"name": name, "value": value}
    if ts is not None:
        point["ts"] = ts
    return await post_metrics(client, [point])


async def post_activity(
    client: httpx.AsyncClient, message: str, actor: str | None = None, level: str | None = None
) -> str:
    """POST /api/activity; its event id."""
    body: dict[str, Any] = {"message": message}
    if actor is not None:
        body["actor"] = actor
    if level is not None:
        body["level"] = level
    return _accepted(await client.post("/api/activity", json=body))


async def raise_alert(
    client: httpx.AsyncClient, alert_id: str, severity: str, title: str, message: str | None = None
) -> str:
    """POST /api/alerts; its event id."""
    body: dict[str, Any] = {"id": alert_id, "severity": severity, "title": title}
    if message is not None:
        body["message"] = message
    return _accepted(await client.post("/api/alerts", json=body))


async def resolve_alert(client: httpx.AsyncClient, alert_id: str) -> str:
    """DELETE /api/alerts/{id}; its event id."""
    return _accepted(await client.delete(f"/api/alerts/{alert_id}"), status=200)


async def health(client: httpx.AsyncClient) -> dict[str, Any]:
    """GET /healthz as JSON."""
    response = await client.get("/healthz")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- HTML ------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Start tags with their attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of `html` as (tag, attributes)."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


def by_id(html: str) -> dict[str, dict[str, str | None]]:
    """Attributes of every element that has an id, by id."""
    return {str(attrs["id"]): attrs for _, attrs in elements(html) if attrs.get("id")}


def metric_values(html: str) -> dict[str, str]:
    """`data-value` of each metric card (`<article id="metric-<name>">`) by metric name."""
    values: dict[str, str] = {}
    current: str | None = None
    for tag, attrs in elements(html):
        element_id = attrs.get("id") or ""
        if tag == "article" and element_id.startswith("metric-"):
            current = element_id.removeprefix("metric-")
        elif current is not None and attrs.get("data-value") is not None:
            values[current] = str(attrs["data-value"])
            current = None
    return values

"""Shared pieces of the integration tests: an SSE stream reader, ingest calls, HTML probes."""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, TypeVar

import anyio
import httpx

from tests.support.redis_server import RedisServer
from tests.support.server import LiveServer
from tests.support.server import MakeServer as MakeServer  # the `make_server` fixture's type
from tests.support.sse_client import Event, Parser

T = TypeVar("T")

TIMEOUT = httpx.Timeout(10.0)
HTML_STREAM = "/dashboard/stream"
JSON_STREAM = "/api/dashboard/stream"
STREAMS = {"html": HTML_STREAM, "json": JSON_STREAM}

# HTML event names for containers. A card's and a banner's own events are `metric-<name>` and
# `alert-<id>`, so container events that began with `metric-` or `alert-` would collide with a
# metric called `new` or an alert called `resolved`; they begin with another word instead.
# test_stream_protocol.py checks that such names keep their own events.
HTML_NEW_METRIC = "new-metric"
HTML_NEW_ALERT = "new-alert"
HTML_RESOLVED_ALERT = "resolved-alert"


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


def region_html(html: str, element_id: str) -> str:
    """The exact source between the start and end tags of the element with this id."""
    parser = _Region(html, element_id)
    parser.feed(html)
    parser.close()
    assert parser.start is not None, f"no element #{element_id} in the page"
    assert parser.end is not None, f"#{element_id} is not closed in the page"
    return html[parser.start : parser.end]


PAGE_REGIONS = ("alerts", "metrics-grid", "activity-feed")


def page_regions(html: str) -> dict[str, str]:
    """What the page shows: the HTML of its alert, card and feed regions, by element id."""
    return {element_id: region_html(html, element_id) for element_id in PAGE_REGIONS}


class _Region(HTMLParser):
    """Finds one element's content by source offsets (nesting of the same tag counted)."""

    def __init__(self, html: str, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self._lines = [0] + [match.end() for match in re.finditer("\n", html)]
        self._target = element_id
        self._tag: str | None = None
        self._depth = 0
        self.start: int | None = None
        self.end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.end is not None:
            return
        if self._tag is None:
            if dict(attrs).get("id") == self._target:
                self._tag, self._depth = tag, 1
                self.start = self._offset() + len(self.get_starttag_text() or "")
        elif tag == self._tag:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._tag == tag and self.end is None:
            self._depth -= 1
            if self._depth == 0:
                self.end = self._offset()


# --- backends, processes, readiness -------------------------------------------------------


def id_key(event_id: str | None) -> tuple[int, int]:
    """An event id (`<ms>-<seq>`, Redis Stream shaped) as a sortable pair."""
    assert event_id is not None and re.fullmatch(r"\d+-\d+", event_id), f"not an ordered id: {event_id!r}"
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


def assert_increasing(ids: list[str]) -> None:
    """Each id is greater than the one before it."""
    keys = [id_key(event_id) for event_id in ids]
    out_of_order = [(ids[i], ids[i + 1]) for i in range(len(ids) - 1) if keys[i] >= keys[i + 1]]
    assert not out_of_order, f"ids not increasing: {out_of_order[:5]}"


def redis_settings(redis: RedisServer, **extra: str) -> dict[str, str]:
    """Settings for a livedash on this Redis, under a key prefix of its own (share the dict
    to have several processes make one dashboard). Cards unthrottled, heartbeats every 0.5 s."""
    return {
        "LIVEDASH_REDIS_URL": redis.url,
        "LIVEDASH_REDIS_PREFIX": unique("ldt"),
        "LIVEDASH_HEARTBEAT_SECONDS": "0.5",
        "LIVEDASH_CARD_RATE": "0",
        **extra,
    }


@asynccontextmanager
async def client_for(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An async client for this server."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        yield http


async def start_in_thread(server: LiveServer) -> LiveServer:
    """`server.start()` without blocking the event loop (streams open meanwhile keep reading)."""
    return await anyio.to_thread.run_sync(server.start)


async def wait_for(
    check: Callable[[], Awaitable[T | None]], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll `check` until it returns something other than None; fail after `timeout` seconds."""
    deadline = anyio.current_time() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if anyio.current_time() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await anyio.sleep(interval)


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    """GET /readyz: its status code and JSON body."""
    response = await client.get("/readyz")
    try:
        body = response.json()
    except ValueError:
        body = {"unparsed": response.text}
    assert isinstance(body, dict), body
    return response.status_code, body


async def assert_ready(client: httpx.AsyncClient, backend: str) -> dict[str, Any]:
    """/readyz says ready, on this backend, with no reason; the body."""
    status, body = await readiness(client)
    assert status == 200, (status, body)
    assert {"status", "backend", "reason", "producer"} <= set(body), body
    assert (body["status"], body["backend"], body["reason"]) == ("ready", backend, None), body
    assert isinstance(body["producer"], bool), body
    return body


# --- every kind of event, possibly over several processes ---------------------------------


@dataclass
class Sent:
    """One ingested event: its id, its name on each stream ("html", "json"), a word its data has."""

    id: str
    names: dict[str, str]
    token: str


async def ingest_each_kind(clients: Sequence[httpx.AsyncClient], count: int) -> list[Sent]:
    """`count` events of every kind in a known order, one request each, taking turns over
    `clients`: with several processes, an update lands on another one than the element's creation."""
    sent: list[Sent] = []
    metric = alert_id = ""
    for i in range(count):
        client = clients[i % len(clients)]
        kind = i % 6
        if kind == 0:
            metric = unique("m")
            event_id = await post_metric(client, metric, i)
            sent.append(Sent(event_id, {"json": "metric-update", "html": HTML_NEW_METRIC}, metric))
        elif kind == 1:
            event_id = await post_metric(client, metric, i + 0.5)
            sent.append(Sent(event_id, {"json": "metric-update", "html": f"metric-{metric}"}, metric))
        elif kind == 2:
            message = unique("line")
            event_id = await post_activity(client, message, actor="t", level="info")
            sent.append(Sent(event_id, {"json": "activity", "html": "activity"}, message))
        elif kind == 3:
            alert_id = unique("alert")
            event_id = await raise_alert(client, alert_id, "warning", "backlog")
            sent.append(Sent(event_id, {"json": "alert", "html": HTML_NEW_ALERT}, alert_id))
        elif kind == 4:
            event_id = await raise_alert(client, alert_id, "critical", "backlog growing")
            sent.append(Sent(event_id, {"json": "alert", "html": f"alert-{alert_id}"}, "backlog growing"))
        else:
            event_id = await resolve_alert(client, alert_id)
            sent.append(Sent(event_id, {"json": "alert-resolved", "html": HTML_RESOLVED_ALERT}, alert_id))
    return sent


async def expect_events(stream: SSEStream, count: int, timeout: float = 5.0) -> list[Event]:
    """The next `count` events (not heartbeats) of a resumed or running stream; says what went
    wrong: a `snapshot` among them (the id was not resumable), or too few in time."""
    events: list[Event] = []
    try:
        with anyio.fail_after(timeout):
            while len(events) < count:
                event = await stream.next_event(timeout)
                assert event.event != "snapshot", (
                    f"a snapshot after {len(events)} of {count} events: the id was not resumable"
                )
                events.append(event)
    except TimeoutError:
        raise AssertionError(
            f"{len(events)} of {count} events within {timeout} s; got {[(e.event, e.id) for e in events]}"
        ) from None
    return events


def assert_received(events: list[Event], sent: list[Sent], fmt: str) -> None:
    """`events` are exactly `sent`, in order: same ids, names, and each data has its word."""
    assert [e.id for e in events] == [s.id for s in sent]
    assert [e.event for e in events] == [s.names[fmt] for s in sent]
    for event, s in zip(events, sent, strict=True):
        assert s.token in event.data, (event, s)

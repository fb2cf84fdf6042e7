"""The stream handler as uvicorn drives it: one ASGI call per stream, over a real dashboard.

The handler awaits `receive()` itself, so the client leaving, a shutdown and an overflow each
have to end that wait; these tests see each happen from the connection's side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import cast

import msgspec
import pytest
from litestar.types import Receive, Scope, Send

from app.domain.model import ActivityIn
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat
from app.web.streams import HEADERS, last_event_id, serve
from tests.support.fakes import WAIT, FakeConnection

pytestmark = pytest.mark.anyio

END = {"type": "http.response.body", "body": b"", "more_body": False}


def request(method: str = "GET", headers: Sequence[tuple[bytes, bytes]] = (), query: bytes = b"") -> Scope:
    return cast(
        Scope,
        {
            "type": "http",
            "method": method,
            "path": "/dashboard/stream",
            "headers": list(headers),
            "query_string": query,
        },
    )


def open_stream(
    conn: FakeConnection,
    dashboard: Dashboard,
    fmt: StreamFormat = StreamFormat.html,
    scope: Scope | None = None,
) -> asyncio.Task[None]:
    """Run the handler for one request, as uvicorn does: in a task of its own."""
    handler = serve(scope or request(), cast(Receive, conn.receive), cast(Send, conn.send), fmt, dashboard)
    return asyncio.create_task(handler)


async def finished(task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(WAIT):
        await task


def ids(conn: FakeConnection) -> list[tuple[str, str | None]]:
    return [(event.event, event.id) for event in conn.events]


async def activities(dashboard: Dashboard, count: int) -> list[str]:
    return [await dashboard.add_activity(ActivityIn(message=f"line {n}")) for n in range(count)]


@pytest.mark.parametrize("fmt", list(StreamFormat))
async def test_a_stream_sends_the_snapshot_then_live_events_until_the_client_leaves(
    fmt: StreamFormat, dashboard: Dashboard
) -> None:
    origin = dashboard.state.version
    conn = FakeConnection()
    task = open_stream(conn, dashboard, fmt)
    await conn.until_events(1)
    assert (conn.status, conn.headers) == (200, HEADERS)
    [event_id] = await activities(dashboard, 1)
    await conn.until_events(2)
    assert ids(conn) == [("snapshot", origin), ("activity", event_id)]
    assert conn.written[0].startswith(b": livedash\nretry: 2000\n\n")
    conn.leave()
    await finished(task)
    assert len(dashboard.streams) == 0
    assert not conn.ended  # nobody is left to read an end
    assert len(conn.messages) == 3


async def test_events_after_the_client_left_are_not_sent(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    conn.leave()
    await finished(task)
    await activities(dashboard, 1)
    assert conn.sends == 2  # the start and the opening


async def test_a_stray_body_chunk_does_not_end_the_stream(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    conn.stray(b"unexpected")
    await conn.until(lambda: conn.receives == 3)  # read it, and waiting for the client again
    assert len(dashboard.streams) == 1
    [event_id] = await activities(dashboard, 1)
    await conn.until_events(2)
    assert ids(conn)[1] == ("activity", event_id)
    conn.leave()
    await finished(task)
    assert len(dashboard.streams) == 0


async def test_shutdown_ends_the_response_with_an_empty_last_body(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    dashboard.streams.close_all()
    await finished(task)
    assert conn.messages[-1] == END
    assert len(conn.messages) == 3  # the start, the opening, the end
    assert len(dashboard.streams) == 0


async def test_shutdown_during_a_stalled_write_sends_no_end_over_it(dashboard: Dashboard) -> None:
    """A send is in flight: a second one would interleave with it, so the server closes the connection."""
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    conn.block()
    [event_id] = await activities(dashboard, 1)
    dashboard.streams.close_all()
    await finished(task)
    assert conn.sends == 3  # the start, the opening, the stalled event
    await conn.unblock()
    assert ids(conn)[1] == ("activity", event_id)
    assert not conn.ended
    assert len(dashboard.streams) == 0


async def test_a_stream_opened_after_shutdown_began_ends_at_once(dashboard: Dashboard) -> None:
    dashboard.streams.close_all()
    conn = FakeConnection()
    await finished(open_stream(conn, dashboard))
    assert conn.messages == [{"type": "http.response.start", "status": 200, "headers": HEADERS}, END]
    assert len(dashboard.streams) == 0


async def test_a_client_that_stops_reading_is_dropped_and_its_response_left_unfinished(
    settings: Settings, renderer: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    """Activity lines are never conflated: enough of them past the buffer drop the client."""
    caplog.set_level(logging.WARNING, logger="livedash.fanout")
    small = msgspec.structs.replace(settings, client_buffer_bytes=1024)
    dashboard = Dashboard(small, renderer, clock=lambda: 1_700_000_000.0)
    await dashboard.start()
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    conn.block()
    await activities(dashboard, 1)  # in flight, stalled
    await activities(dashboard, 10)  # held until the buffer overflows
    await finished(task)
    assert len(dashboard.streams) == 0
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "livedash.fanout"] == [
        "dropping a client that stopped reading"
    ]
    await conn.unblock()
    assert len(conn.events) == 2  # the snapshot and the stalled line: nothing held went out after
    assert not conn.ended


async def test_the_server_cancelling_the_handler_ends_the_subscription(dashboard: Dashboard) -> None:
    """uvicorn's graceful-shutdown timeout cancels handlers: the cancel must not be swallowed."""
    conn = FakeConnection()
    task = open_stream(conn, dashboard)
    await conn.until_events(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finished(task)
    assert len(dashboard.streams) == 0


async def test_a_post_is_refused_with_405_without_reading_it_or_subscribing(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    await finished(open_stream(conn, dashboard, scope=request("POST")))
    assert conn.messages == [
        {
            "type": "http.response.start",
            "status": 405,
            "headers": [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain")],
        },
        {"type": "http.response.body", "body": b"only GET opens a stream", "more_body": False},
    ]
    assert conn.receives == 0
    assert len(dashboard.streams) == 0


async def test_head_gets_the_stream_headers_and_an_empty_body(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    await finished(open_stream(conn, dashboard, scope=request("HEAD")))
    assert conn.messages == [{"type": "http.response.start", "status": 200, "headers": HEADERS}, END]
    assert len(dashboard.streams) == 0


@pytest.mark.parametrize(
    ("header", "query", "resumes_after"),
    [
        ("{0}", None, 0),  # what a reconnecting EventSource sends
        (None, "{1}", 1),  # our page script's first connection
        ("{0}", "{1}", 0),  # the header wins
        ("", "{1}", 1),  # an empty header is no id
    ],
)
async def test_a_stream_resumes_after_the_last_event_id_header_else_the_query(
    header: str | None, query: str | None, resumes_after: int, dashboard: Dashboard
) -> None:
    """`header` and `query` name the sent events by index."""
    sent = await activities(dashboard, 3)
    headers = [] if header is None else [(b"last-event-id", header.format(*sent).encode())]
    query_string = b"" if query is None else f"lastEventId={query.format(*sent)}".encode()
    conn = FakeConnection()
    task = open_stream(conn, dashboard, scope=request(headers=headers, query=query_string))
    await conn.until(lambda: len(conn.written) == 1)  # the catch-up goes out in one write
    assert ids(conn) == [("activity", event_id) for event_id in sent[resumes_after + 1 :]]
    conn.leave()
    await finished(task)


def test_last_event_id_reads_the_header_as_latin_1_and_the_last_query_value() -> None:
    assert last_event_id(request(headers=[(b"last-event-id", b"7-\xb2")])) == "7-\u00b2"
    assert last_event_id(request(query=b"lastEventId=7-1&lastEventId=7-2")) == "7-2"
    assert last_event_id(request(query=b"other=1")) is None
    assert last_event_id(request()) is None

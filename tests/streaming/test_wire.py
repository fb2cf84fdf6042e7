"""Direct writes to uvicorn's transport: when `direct_wire` offers them, and that they are what
uvicorn itself would have written.

The direct path reads private attributes of uvicorn's httptools protocol. The tests at the end
serve real sockets with the pinned uvicorn, and fail if it stops offering that path.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from litestar import Litestar
from uvicorn.server import ServerState

from app.domain.model import ActivityIn
from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.streaming import sse
from app.streaming.fanout import Batch, Channel, Closed, Subscriber
from app.streaming.wire import Wire, direct_wire
from app.web.access import SessionCodec, StreamCounter, session_key
from app.web.asgi import STREAM_PATHS, StreamsFirst
from app.web.gate import Gate
from app.web.metrics import IngestCounts
from tests.support.fakes import WAIT, FakeConnection, FakeTransport, uvicorn_stream
from tests.support.server import LiveServer
from tests.support.sse_client import Event as SSEEvent
from tests.support.sse_client import Parser

DIRECT = "streams write direct to uvicorn's transport"
PORTABLE = "streams write through ASGI send"


# --- when there is a wire ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_started_chunked_uvicorn_response_gets_a_wire_with_capped_buffers() -> None:
    left, right = socket.socketpair()
    with left, right:
        transport = FakeTransport(sock=left)
        cycle = await uvicorn_stream(transport)
        wire = direct_wire(cycle.send, high_water=16_384, send_buffer=32_768)
        assert isinstance(wire, Wire)
        assert (wire.cycle, wire.transport, wire.flow) == (cycle, transport, cycle.flow)
        assert transport.high_water == 16_384
        assert (
            left.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 65_536
        )  # Linux doubles what it is given


@pytest.mark.anyio
async def test_a_send_that_is_not_uvicorns_httptools_cycle_gets_no_wire() -> None:
    async def send(_message: object) -> None:
        return None

    assert direct_wire(send, high_water=16_384, send_buffer=65_536) is None
    assert (
        direct_wire(FakeConnection().send, high_water=16_384, send_buffer=65_536) is None
    )  # bound, not uvicorn's


@pytest.mark.anyio
async def test_a_response_with_a_content_length_gets_no_wire() -> None:
    """Raw chunks would break a response framed by its length."""
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport, headers=[(b"content-length", b"5")])
    assert cycle.chunked_encoding is False
    assert direct_wire(cycle.send, high_water=16_384, send_buffer=65_536) is None
    assert transport.high_water is None  # nothing was changed either


@pytest.mark.anyio
async def test_a_finished_uvicorn_response_is_not_written_to_directly() -> None:
    """After `send` ended the response, raw chunks would corrupt the connection's next response."""
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
    transport.data.clear()
    sub = Subscriber(cycle.send, limit=100_000)
    assert not sub.direct
    sub.push(Batch.of(b"late"))
    assert bytes(transport.data) == b""
    assert sub.closed.result() is Closed.error  # uvicorn's send refuses a body after the end


# --- the subscriber on a wire ----------------------------------------------------------------


@pytest.mark.anyio
async def test_uvicorn_streams_are_written_straight_to_the_transport_as_uvicorn_would() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    sub = Subscriber(cycle.send, limit=100_000)
    assert sub.direct
    assert transport.high_water == 16_384  # a stalled client pins little in the transport itself
    sub.push(Batch([("cpu", b"one"), (None, b"two")]))
    sub.push(Batch.of(b"three"))
    assert bytes(transport.data) == b"6\r\nonetwo\r\n" + b"5\r\nthree\r\n"
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
    assert bytes(transport.data) == b"6\r\nonetwo\r\n5\r\nthree\r\n0\r\n\r\n"  # uvicorn still ends it
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_a_small_buffer_limit_is_the_transports_high_water_mark() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    Subscriber(cycle.send, limit=4_096).close(Closed.shutdown)
    assert transport.high_water == 4_096


@pytest.mark.anyio
async def test_a_backed_up_transport_holds_and_conflates_until_it_drains() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    sub = Subscriber(cycle.send, limit=100_000)
    transport.backed_up = True
    sub.push(Batch.of(b"a"))
    assert not sub.writable and sub.ready is None  # written, but the transport asked us to wait
    sub.push(Batch([("cpu", b"b")]))
    sub.push(Batch([(None, b"c"), ("cpu", b"d")]))
    assert bytes(transport.data) == b"1\r\na\r\n"
    assert sub.pending_bytes == 2
    transport.drained()
    await transport.until(lambda: len(transport.data) > len(b"1\r\na\r\n"))
    assert bytes(transport.data) == b"1\r\na\r\n" + b"2\r\ncd\r\n"
    assert sub.writable and sub.conflated == 1 and sub.pending_bytes == 0
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_a_direct_stream_whose_client_left_is_closed_on_the_next_write() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    sub = Subscriber(cycle.send, limit=100_000)
    cycle.disconnected = True
    sub.push(Batch.of(b"lost"))
    assert sub.closed.result() is Closed.disconnect
    assert bytes(transport.data) == b""


@pytest.mark.anyio
async def test_hang_up_aborts_the_connection_and_returns_once_uvicorn_saw_it_go() -> None:
    """An overflowed client's response must end as a lost connection, not an unfinished one."""
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    sub = Subscriber(cycle.send, limit=100_000)
    sub.close(Closed.overflow)
    await sub.hang_up()
    assert transport.aborted
    assert cycle.disconnected


@pytest.mark.anyio
async def test_hang_up_without_a_wire_leaves_the_connection_to_the_server() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=100)
    sub.close(Closed.overflow)
    await sub.hang_up()
    assert conn.messages == []


@pytest.mark.anyio
async def test_broadcast_writes_the_one_chunk_to_every_direct_transport_and_sends_to_the_others() -> None:
    channel = Channel()
    transports = [FakeTransport(), FakeTransport()]
    cycles = [await uvicorn_stream(transport) for transport in transports]
    conn = FakeConnection()
    subs = [Subscriber(cycle.send, limit=100_000) for cycle in cycles] + [
        Subscriber(conn.send, limit=100_000)
    ]
    for sub in subs:
        channel.add(sub)
    transports[0].backed_up = True
    batch = Batch([("cpu", b"one"), (None, b"two")])
    channel.broadcast(batch)
    assert [bytes(t.data) for t in transports] == [b"6\r\nonetwo\r\n"] * 2
    assert conn.written == [b"onetwo"]
    assert [sub.writable for sub in subs] == [False, True, True]  # the first one's socket backed up
    channel.broadcast(Batch([("cpu", b"three")]))
    assert [bytes(t.data) for t in transports] == [b"6\r\nonetwo\r\n", b"6\r\nonetwo\r\n5\r\nthree\r\n"]
    assert subs[0].pending_bytes == 5
    cycles[1].disconnected = True  # its client left: the next broadcast closes it
    channel.broadcast(Batch.of(b"four"))
    assert subs[1].closed.result() is Closed.disconnect
    assert len(channel) == 2
    channel.close_all(Closed.shutdown)


# --- the pinned uvicorn, on real sockets ---------------------------------------------------


def dechunk(body: bytes) -> list[bytes]:
    """The chunks of a chunked HTTP/1.1 body, the empty last one included."""
    chunks = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        assert rest[size : size + 2] == b"\r\n", body
        chunks.append(rest[:size])
        body = rest[size + 2 :]
    return chunks


@asynccontextmanager
async def uvicorn_serving(http: str, dashboard: Dashboard) -> AsyncIterator[int]:
    """The app as uvicorn runs it, served by uvicorn's `http` protocol on a loopback port."""
    viewers = Viewers(dashboard.hub)
    settings = dashboard.settings
    gate = Gate(
        Litestar(route_handlers=[], logging_config=None),
        settings,
        SessionCodec(session_key(settings), 3600),
        viewers,
        frozenset(STREAM_PATHS),
    )
    config = uvicorn.Config(
        StreamsFirst(gate, dashboard, StreamCounter(100, 100), viewers, IngestCounts()),
        http=http,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: config.http_protocol_class(config=config, server_state=state, app_state={}),  # type: ignore[call-arg]
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def read_more(reader: asyncio.StreamReader, received: bytes, end: bytes) -> bytes:
    """`received` and what the server sends next, up to the first read that ends with `end`."""
    async with asyncio.timeout(WAIT):
        while True:
            data = await reader.read(65_536)
            assert data, received
            received += data
            if received.endswith(end):
                return received


@pytest.mark.anyio
@pytest.mark.parametrize(("http", "path"), [("httptools", DIRECT), ("h11", PORTABLE)])
async def test_the_pinned_uvicorn_gives_the_streams_the_direct_path_under_httptools_only(
    http: str, path: str, dashboard: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    """Under httptools the frames reach the socket by the direct path, under h11 through `send`;
    the bytes on the wire are the same either way."""
    caplog.set_level(logging.INFO, logger="livedash.streams")
    origin = dashboard.state.version
    opening = sse.preamble(dashboard.settings.retry_ms) + dashboard.streams.snapshot().html
    async with uvicorn_serving(http, dashboard) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /dashboard/stream HTTP/1.1\r\nHost: test\r\n\r\n")
            received = await read_more(reader, b"", b"\n\n\r\n")  # headers, then the snapshot chunk
            assert [r.getMessage() for r in caplog.records if r.name == "livedash.streams"] == [path]
            event_id = await dashboard.add_activity(ActivityIn(message="hello"))
            received = await read_more(reader, received, b"\n\n\r\n")
            dashboard.streams.close_all()
            received = await read_more(reader, received, b"0\r\n\r\n")
        finally:
            writer.close()
            await writer.wait_closed()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ntransfer-encoding: chunked" in head.lower()
    [activity] = dashboard.streams.ring.since(origin) or []
    assert activity.id == event_id
    assert dechunk(body) == [opening, activity.html, b""]
    assert len(dashboard.streams) == 0


def test_the_app_under_uvicorn_as_deployed_logs_the_direct_path() -> None:
    """The server as it is launched (uvloop, httptools) says at its first stream which path it took."""
    with LiveServer() as server:
        with httpx.stream("GET", server.url + "/dashboard/stream", timeout=10.0) as response:
            parser = Parser()
            events: list[SSEEvent] = []
            for text in response.iter_text():
                events += parser.feed(text)
                if events:
                    break
        assert [event.event for event in events] == ["snapshot"]
        deadline = time.monotonic() + WAIT
        while "livedash.streams:" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.02)  # the line is logged before the first write, by a logging thread
        log = server.log()
    assert f"livedash.streams: {DIRECT}" in log
    assert PORTABLE not in log

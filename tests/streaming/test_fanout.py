"""The broadcaster writes to each client itself; these pin its behaviour."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from app.streaming import sse
from app.streaming.fanout import Batch, Channel, Closed, Subscriber, drive, http_chunk
from tests.support.sse_client import Parser


class FakeConnection:
    """An ASGI send/receive pair whose socket can be made to stall, and a client that can leave."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.sends = 0
        self.stall: asyncio.Future[None] | None = None
        self.gone: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def send(self, message: dict[str, Any]) -> None:
        self.sends += 1
        if self.stall is not None:
            await self.stall  # as uvicorn's flow.drain() when the write buffer is full
        self.written.append(message["body"])

    async def receive(self) -> dict[str, Any]:
        return await self.gone

    def leave(self) -> None:
        self.gone.set_result({"type": "http.disconnect"})

    def block(self) -> None:
        self.stall = asyncio.get_running_loop().create_future()

    async def unblock(self) -> None:
        """Let the stalled send finish and the subscriber flush what it held."""
        stall, self.stall = self.stall, None
        assert stall is not None
        stall.set_result(None)
        for _ in range(3):
            await asyncio.sleep(0)

    @property
    def data(self) -> bytes:
        return b"".join(self.written)


def card(name: str, seq: int, value: float) -> tuple[str, bytes]:
    """A metric card update, keyed by its card as the dashboard keys them."""
    return name, sse.frame(f"{name}={value}", event=f"metric-{name}", id=f"1-{seq}")


def item(seq: int, text: str) -> tuple[None, bytes]:
    """An activity line: never conflated."""
    return None, sse.frame(text, event="activity", id=f"1-{seq}")


def received(data: bytes) -> list[tuple[str | None, str]]:
    return [(event.id, event.data) for event in Parser().feed(data.decode())]


@pytest.mark.anyio
async def test_fast_path_writes_synchronously_without_tasks() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=1024)
    tasks_before = len(asyncio.all_tasks())
    sub.push(Batch.of(b"a"))
    sub.push(Batch([("k", b"b"), (None, b"c")]))
    assert conn.written == [b"a", b"bc"]  # before any await: no task was involved
    assert len(asyncio.all_tasks()) == tasks_before
    sub.close(Closed.shutdown)


def test_batch_joins_its_frames_once_and_frames_them_as_one_http_chunk() -> None:
    batch = Batch([("cpu", b"one"), (None, b"two")])
    assert batch.body == b"onetwo"
    assert batch.chunk == b"6\r\nonetwo\r\n" == http_chunk(b"onetwo")
    assert http_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"  # the size is hex
    assert Batch.of(b"z").parts == ((None, b"z"),)


@pytest.mark.anyio
async def test_stalled_socket_batches_pending_frames_into_one_send() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=1024)
    conn.block()
    sub.push(Batch.of(b"1"))
    sub.push(Batch.of(b"2"))
    sub.push(Batch.of(b"3"))
    assert conn.written == [] and conn.sends == 1
    assert not sub.writable and sub.pending_bytes == 2
    await conn.unblock()
    assert conn.written == [b"1", b"23"]
    assert sub.writable and sub.pending_bytes == 0
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_lagging_client_gets_only_the_newest_update_of_each_card_in_id_order() -> None:
    """A newer update of a card replaces the pending one and moves to the end, after what it follows."""
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=4096)
    conn.block()
    sub.push(Batch.of(b": in flight\n\n"))
    sub.push(Batch([card("cpu", 1, 1.0), card("mem", 2, 1.0)]))
    sub.push(Batch([item(3, "deployed")]))
    sub.push(Batch([card("cpu", 4, 2.0), card("cpu", 5, 3.0)]))  # twice in one batch as well
    sub.push(Batch([card("disk", 6, 1.0)]))
    assert sub.conflated == 2
    await conn.unblock()
    assert len(conn.written) == 2  # still one write for everything held
    assert received(conn.written[1]) == [
        ("1-2", "mem=1.0"),
        ("1-3", "deployed"),
        ("1-5", "cpu=3.0"),
        ("1-6", "disk=1.0"),
    ]
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_keyless_frames_are_never_conflated() -> None:
    """Activity items and alerts each matter: a lagging client gets all of them."""
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=4096)
    conn.block()
    sub.push(Batch.of(b": in flight\n\n"))
    for seq in range(1, 11):
        sub.push(Batch([item(seq, "same words")]))
    assert sub.conflated == 0
    await conn.unblock()
    assert [event_id for event_id, _ in received(conn.written[1])] == [f"1-{seq}" for seq in range(1, 11)]
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_conflation_keeps_a_lagging_client_of_card_updates_within_its_buffer() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=200)
    conn.block()
    sub.push(Batch.of(b"first"))
    for seq in range(1, 1001):
        sub.push(Batch([card("cpu", seq, float(seq))]))
    assert not sub.closed.done()
    assert sub.conflated == 999
    assert sub.pending_bytes == len(card("cpu", 1000, 1000.0)[1])
    await conn.unblock()
    assert received(conn.written[1]) == [("1-1000", "cpu=1000.0")]
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_overflow_after_conflation_still_closes_the_subscription() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=10)
    conn.block()
    sub.push(Batch.of(b"first"))
    sub.push(Batch([("cpu", b"x" * 6)]))
    sub.push(Batch([("cpu", b"y" * 6)]))  # replaces x: 6 bytes pending, within the limit
    assert not sub.closed.done() and sub.pending_bytes == 6
    sub.push(Batch([("mem", b"z" * 6)]))  # another card: nothing to conflate, 12 > 10
    assert sub.closed.done() and sub.closed.result() is Closed.overflow
    assert sub.pending_bytes == 0  # the buffer is dropped with the client
    sub.push(Batch.of(b"ignored"))
    assert conn.sends == 1


@pytest.mark.anyio
async def test_overflow_closes_the_subscription_and_drops_the_buffer() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=10)
    conn.block()
    sub.push(Batch.of(b"first"))
    sub.push(Batch.of(b"x" * 6))
    assert not sub.closed.done()
    sub.push(Batch.of(b"y" * 6))
    assert sub.closed.done() and sub.closed.result() is Closed.overflow
    sub.push(Batch.of(b"ignored"))
    assert conn.sends == 1
    await conn.unblock()
    assert conn.written == [b"first"]  # nothing held was sent after the close


@pytest.mark.anyio
async def test_disconnect_is_noticed_without_any_write() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=10)
    conn.leave()
    assert await asyncio.wait_for(sub.closed, 1) is Closed.disconnect


@pytest.mark.anyio
async def test_close_abandons_the_pending_receive() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=10)
    sub.close(Closed.shutdown)
    conn.leave()
    await asyncio.sleep(0)
    assert sub.closed.result() is Closed.shutdown


@pytest.mark.anyio
async def test_failing_send_closes_with_error() -> None:
    async def broken(_message: dict[str, Any]) -> None:
        raise OSError("reset")

    conn = FakeConnection()
    sub = Subscriber(broken, conn.receive, limit=10)
    sub.push(Batch.of(b"x"))
    assert sub.closed.result() is Closed.error


@pytest.mark.anyio
async def test_channel_broadcasts_the_same_bytes_and_forgets_closed_subscribers() -> None:
    channel = Channel("html")
    conns = [FakeConnection() for _ in range(3)]
    subs = [Subscriber(c.send, c.receive, limit=100) for c in conns]
    for sub in subs:
        channel.add(sub)
    batch = Batch([(None, b"event: x\ndata: y\n\n"), ("k", b"event: k\ndata: z\n\n")])
    channel.broadcast(batch)
    assert all(c.written == [batch.body] for c in conns)
    assert all(c.written[0] is batch.body for c in conns)  # joined once, not per client
    conns[1].leave()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(channel) == 2
    channel.close_all(Closed.shutdown)
    await asyncio.sleep(0)
    assert len(channel) == 0


@pytest.mark.anyio
async def test_drive_reports_results_and_exceptions() -> None:
    results: list[tuple[BaseException | None, Any]] = []

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise ValueError("boom")

    drive(answer(), lambda exc, value: results.append((exc, value)))
    drive(fail(), lambda exc, value: results.append((exc, value)))
    assert isinstance(results[0][0], ValueError)  # finished on the spot
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert results[1] == (None, 42)


# --- direct writes to uvicorn's transport (app/wire.py) --------------------------------


class FakeTransport:
    """What uvicorn's cycle writes to; it can back up like a socket whose peer stopped reading."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.high_water: int | None = None
        self.backed_up = False
        self.flow: FlowControl | None = None

    def write(self, data: bytes) -> None:
        self.data += data
        if self.backed_up and self.flow is not None:
            self.flow.pause_writing()  # as asyncio calls the protocol's pause_writing()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    def drained(self) -> None:
        self.backed_up = False
        assert self.flow is not None
        self.flow.resume_writing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default  # no real socket behind it

    def close(self) -> None:
        pass


async def uvicorn_stream(transport: FakeTransport) -> RequestResponseCycle:
    """A real uvicorn httptools response cycle that has started a chunked event stream."""
    flow = FlowControl(cast(asyncio.Transport, transport))
    transport.flow = flow
    cycle = RequestResponseCycle(
        scope=cast(Any, {"type": "http", "method": "GET", "http_version": "1.1", "client": None}),
        transport=cast(asyncio.Transport, transport),
        flow=flow,
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    await cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"y")]})
    transport.data.clear()
    return cycle


@pytest.mark.anyio
async def test_uvicorn_streams_are_written_straight_to_the_transport_as_uvicorn_would() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    conn = FakeConnection()
    sub = Subscriber(cycle.send, conn.receive, limit=100_000)
    assert transport.high_water == 16_384  # a stalled client pins little in the transport itself
    sub.push(Batch([("cpu", b"one"), (None, b"two")]))
    sub.push(Batch.of(b"three"))
    assert bytes(transport.data) == b"6\r\nonetwo\r\n" + b"5\r\nthree\r\n"
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
    assert transport.data.endswith(b"5\r\nthree\r\n0\r\n\r\n")  # uvicorn still ends the response
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_a_backed_up_transport_holds_and_conflates_until_it_drains() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    conn = FakeConnection()
    sub = Subscriber(cycle.send, conn.receive, limit=100_000)
    transport.backed_up = True
    sub.push(Batch.of(b"a"))
    assert not sub.writable  # written, but the transport asked us to wait
    sub.push(Batch([("cpu", b"b")]))
    sub.push(Batch([(None, b"c"), ("cpu", b"d")]))
    assert bytes(transport.data) == b"1\r\na\r\n"
    transport.drained()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert bytes(transport.data) == b"1\r\na\r\n" + b"2\r\ncd\r\n"
    assert sub.writable and sub.conflated == 1
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_a_direct_stream_whose_client_left_is_closed_on_the_next_write() -> None:
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    conn = FakeConnection()
    sub = Subscriber(cycle.send, conn.receive, limit=100_000)
    cycle.disconnected = True
    sub.push(Batch.of(b"lost"))
    assert sub.closed.result() is Closed.disconnect
    assert bytes(transport.data) == b""


@pytest.mark.anyio
async def test_a_finished_uvicorn_response_is_not_written_to_directly() -> None:
    """After `send` ended the response, raw chunks would corrupt the connection's next response."""
    transport = FakeTransport()
    cycle = await uvicorn_stream(transport)
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
    transport.data.clear()
    conn = FakeConnection()
    sub = Subscriber(cycle.send, conn.receive, limit=100_000)
    sub.push(Batch.of(b"late"))
    assert bytes(transport.data) == b""
    assert sub.closed.result() is Closed.error  # uvicorn's send refuses a body after the end


@pytest.mark.anyio
async def test_without_receive_a_close_from_our_side_wakes_the_handler() -> None:
    """The stream handler waits in `receive()` itself; an overflow or shutdown must end that wait."""
    conn = FakeConnection()
    sub = Subscriber(conn.send, None, limit=10)
    handler = asyncio.create_task(conn.receive())
    sub.handler = handler
    await asyncio.sleep(0)
    conn.block()
    sub.push(Batch.of(b"in flight"))
    sub.push(Batch.of(b"x" * 11))
    assert sub.closed.result() is Closed.overflow
    with pytest.raises(asyncio.CancelledError):
        await handler


@pytest.mark.anyio
async def test_without_receive_the_handler_closing_does_not_cancel_itself() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, None, limit=10)

    async def handler() -> str:
        await conn.receive()
        sub.close(Closed.disconnect)  # what the handler does when the client left
        await asyncio.sleep(0)
        return "finished"

    task = asyncio.create_task(handler())
    sub.handler = task
    await asyncio.sleep(0)
    assert not sub.closed.done()  # the subscriber itself does not listen any more
    conn.leave()
    assert await asyncio.wait_for(task, 1) == "finished"
    assert sub.closed.result() is Closed.disconnect

"""The broadcaster drives each client's ASGI send itself; these pin its behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.fanout import Channel, Closed, Subscriber, drive


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

    @property
    def data(self) -> bytes:
        return b"".join(self.written)


@pytest.mark.anyio
async def test_fast_path_writes_synchronously_without_tasks() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=1024)
    tasks_before = len(asyncio.all_tasks())
    sub.push(b"a")
    sub.push(b"b")
    assert conn.written == [b"a", b"b"]  # before any await: no task was involved
    assert len(asyncio.all_tasks()) == tasks_before
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_stalled_socket_batches_pending_frames_into_one_send() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=1024)
    conn.stall = asyncio.get_running_loop().create_future()
    sub.push(b"1")
    sub.push(b"2")
    sub.push(b"3")
    assert conn.written == [] and conn.sends == 1
    assert not sub.writable
    stall, conn.stall = conn.stall, None
    stall.set_result(None)
    for _ in range(3):
        await asyncio.sleep(0)
    assert conn.written == [b"1", b"23"]
    assert sub.writable
    sub.close(Closed.shutdown)


@pytest.mark.anyio
async def test_overflow_closes_the_subscription_and_drops_the_buffer() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, conn.receive, limit=10)
    conn.stall = asyncio.get_running_loop().create_future()
    sub.push(b"first")
    sub.push(b"x" * 6)
    assert not sub.closed.done()
    sub.push(b"y" * 6)
    assert sub.closed.done() and sub.closed.result() is Closed.overflow
    sub.push(b"ignored")
    assert conn.sends == 1


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
    sub.push(b"x")
    assert sub.closed.result() is Closed.error


@pytest.mark.anyio
async def test_channel_broadcasts_the_same_bytes_and_forgets_closed_subscribers() -> None:
    channel = Channel("html")
    conns = [FakeConnection() for _ in range(3)]
    subs = [Subscriber(c.send, c.receive, limit=100) for c in conns]
    for sub in subs:
        channel.add(sub)
    frame = b"event: x\ndata: y\n\n"
    channel.broadcast(frame)
    assert all(c.written == [frame] for c in conns)
    assert all(c.written[0] is frame for c in conns)  # the very same object, not a copy
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

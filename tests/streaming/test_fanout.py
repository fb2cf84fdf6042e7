"""The broadcaster writes to each client itself; these pin its behaviour on the ASGI `send` path.

The direct path to uvicorn's transport has its own tests in test_wire.py; how the stream handler
notices a client leaving is in tests/web/test_streams.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.streaming import sse
from app.streaming.fanout import Batch, Channel, Closed, Subscriber, drive, http_chunk
from tests.support.fakes import FakeConnection
from tests.support.sse_client import Parser

pytestmark = pytest.mark.anyio


def card(name: str, seq: int, value: float) -> tuple[str, bytes]:
    """A metric card update, keyed by its card as the dashboard keys them."""
    return name, sse.frame(f"{name}={value}", event=f"metric-{name}", id=f"1-{seq}")


def item(seq: int, text: str) -> tuple[None, bytes]:
    """An activity line: never conflated."""
    return None, sse.frame(text, event="activity", id=f"1-{seq}")


def received(data: bytes) -> list[tuple[str | None, str]]:
    return [(event.id, event.data) for event in Parser().feed(data.decode())]


async def test_a_writable_socket_is_written_synchronously_without_tasks() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=1024)
    tasks_before = len(asyncio.all_tasks())
    sub.push(Batch.of(b"a"))
    sub.push(Batch([("k", b"b"), (None, b"c")]))
    assert conn.written == [b"a", b"bc"]  # before any await: no task was involved
    assert conn.messages[0] == {"type": "http.response.body", "body": b"a", "more_body": True}
    assert len(asyncio.all_tasks()) == tasks_before
    assert not sub.direct  # an ASGI send of anything but uvicorn's httptools cycle
    sub.close(Closed.shutdown)


def test_batch_joins_its_frames_once_and_frames_them_as_one_http_chunk() -> None:
    batch = Batch([("cpu", b"one"), (None, b"two")])
    assert batch.body == b"onetwo"
    assert batch.chunk == b"6\r\nonetwo\r\n" == http_chunk(b"onetwo")
    assert http_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"  # the size is hex
    assert Batch.of(b"z").parts == ((None, b"z"),)


async def test_stalled_socket_batches_pending_frames_into_one_send() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=1024)
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


async def test_lagging_client_gets_only_the_newest_update_of_each_card_in_id_order() -> None:
    """A newer update of a card replaces the pending one and moves to the end, after what it follows."""
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=4096)
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


async def test_keyless_frames_are_never_conflated() -> None:
    """Activity items and alerts each matter: a lagging client gets all of them."""
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=4096)
    conn.block()
    sub.push(Batch.of(b": in flight\n\n"))
    for seq in range(1, 11):
        sub.push(Batch([item(seq, "same words")]))
    assert sub.conflated == 0
    await conn.unblock()
    assert [event_id for event_id, _ in received(conn.written[1])] == [f"1-{seq}" for seq in range(1, 11)]
    sub.close(Closed.shutdown)


async def test_conflation_keeps_a_lagging_client_of_card_updates_within_its_buffer() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=200)
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


async def test_overflow_after_conflation_still_closes_the_subscription() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=10)
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


async def test_overflow_closes_the_subscription_and_drops_the_buffer() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=10)
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
    assert conn.sends == 1


async def test_failing_send_closes_with_error() -> None:
    async def broken(_message: dict[str, Any]) -> None:
        raise OSError("reset")

    sub = Subscriber(broken, limit=10)
    sub.push(Batch.of(b"x"))
    assert sub.closed.result() is Closed.error


async def test_a_closed_subscriber_is_written_to_no_more() -> None:
    conn = FakeConnection()
    sub = Subscriber(conn.send, limit=100)
    sub.close(Closed.disconnect)
    sub.close(Closed.shutdown)  # the first reason stands
    sub.push(Batch.of(b"late"))
    assert sub.closed.result() is Closed.disconnect
    assert conn.sends == 0


async def test_channel_broadcasts_the_same_bytes_and_forgets_closed_subscribers() -> None:
    channel = Channel()
    conns = [FakeConnection() for _ in range(3)]
    subs = [Subscriber(c.send, limit=100) for c in conns]
    for sub in subs:
        channel.add(sub)
    batch = Batch([(None, b"event: x\ndata: y\n\n"), ("k", b"event: k\ndata: z\n\n")])
    channel.broadcast(batch)
    assert all(c.written == [batch.body] for c in conns)
    assert all(c.written[0] is batch.body for c in conns)  # joined once, not per client
    subs[1].close(Closed.disconnect)
    assert len(channel) == 2
    channel.broadcast(Batch.of(b"second"))
    assert [c.written for c in conns] == [[batch.body, b"second"], [batch.body], [batch.body, b"second"]]
    channel.close_all(Closed.shutdown)
    assert len(channel) == 0
    assert [sub.closed.result() for sub in subs] == [Closed.shutdown, Closed.disconnect, Closed.shutdown]


async def test_broadcast_holds_frames_for_a_stalled_subscriber_only() -> None:
    channel = Channel()
    slow, fast = FakeConnection(), FakeConnection()
    slow_sub, fast_sub = Subscriber(slow.send, limit=100), Subscriber(fast.send, limit=100)
    channel.add(slow_sub)
    channel.add(fast_sub)
    slow.block()
    for body in (b"1", b"2", b"3"):
        channel.broadcast(Batch.of(body))
    assert fast.written == [b"1", b"2", b"3"]
    assert slow.written == [] and slow_sub.pending_bytes == 2
    await slow.unblock()
    assert slow.written == [b"1", b"23"]
    channel.close_all(Closed.shutdown)


async def test_drive_reports_results_and_exceptions() -> None:
    failed: list[tuple[BaseException | None, Any]] = []
    answered: asyncio.Future[tuple[BaseException | None, Any]] = asyncio.get_running_loop().create_future()

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise ValueError("boom")

    drive(answer(), lambda exc, value: answered.set_result((exc, value)))
    drive(fail(), lambda exc, value: failed.append((exc, value)))
    assert [(type(exc), value) for exc, value in failed] == [(ValueError, None)]  # finished on the spot
    assert not answered.done()  # it awaited: the rest runs on a later loop pass, without a task
    assert await answered == (None, 42)


async def test_a_close_from_our_side_cancels_the_handler_waiting_in_receive() -> None:
    """The stream handler waits in `receive()` itself; an overflow or shutdown must end that wait."""
    conn = FakeConnection()
    await conn.receive()  # the GET's body: from now on receive() waits for the client
    sub = Subscriber(conn.send, limit=10)
    handler = asyncio.create_task(conn.receive())
    sub.handler = handler
    conn.block()
    sub.push(Batch.of(b"in flight"))
    sub.push(Batch.of(b"x" * 11))
    assert sub.closed.result() is Closed.overflow
    with pytest.raises(asyncio.CancelledError):
        await handler


async def test_the_handler_closing_its_own_subscriber_does_not_cancel_itself() -> None:
    conn = FakeConnection()
    await conn.receive()
    sub = Subscriber(conn.send, limit=10)

    async def handler() -> str:
        await conn.receive()
        sub.close(Closed.disconnect)  # what the handler does when the client left
        await asyncio.sleep(0)  # a cancel from close() would be raised here
        return "finished"

    task = asyncio.create_task(handler())
    sub.handler = task
    conn.leave()
    assert await task == "finished"
    assert sub.closed.result() is Closed.disconnect


# --- the flush: at most flush_hz writes a second per stream --------------------------------


def flushed_channel(hz: float, count: int) -> tuple[Channel, list[FakeConnection]]:
    channel = Channel(flush_hz=hz)
    conns = [FakeConnection() for _ in range(count)]
    for conn in conns:
        channel.add(Subscriber(conn.send, limit=100_000))
    return channel, conns


async def test_an_idle_channel_writes_an_event_at_once() -> None:
    channel, [conn] = flushed_channel(10, 1)
    channel.broadcast(Batch.of(b"first"))
    assert conn.written == [b"first"]  # no waiting for a tick on a quiet board


async def test_frames_within_the_interval_leave_together_in_the_next_write() -> None:
    channel, conns = flushed_channel(20, 3)  # one write per 50 ms at most
    started = asyncio.get_running_loop().time()
    channel.broadcast(Batch([card("cpu", 1, 1.0)]))
    channel.broadcast(Batch([card("cpu", 2, 2.0), item(3, "hello")]))
    channel.broadcast(Batch([card("mem", 4, 4.0)]))
    assert [c.written for c in conns] == [[card("cpu", 1, 1.0)[1]]] * 3
    await conns[0].until(lambda: len(conns[0].written) == 2)
    waited = asyncio.get_running_loop().time() - started
    assert waited >= 0.05 - 0.005  # not before the interval ran out (the loop's clock granularity)
    second = card("cpu", 2, 2.0)[1] + item(3, "hello")[1] + card("mem", 4, 4.0)[1]
    assert [c.written for c in conns] == [[card("cpu", 1, 1.0)[1], second]] * 3
    assert conns[1].written[1] is conns[2].written[1]  # one bytes object for every client on the tick
    assert (channel.writes, channel.deliveries) == (6, 12)  # nothing conflated away: 4 frames each


async def test_a_client_joining_while_frames_are_held_does_not_get_them_twice() -> None:
    channel, [early] = flushed_channel(20, 1)
    channel.broadcast(Batch.of(b"a"))
    channel.broadcast(Batch.of(b"b"))  # held: its catch-up will come from the replay window
    late = FakeConnection()
    channel.add(Subscriber(late.send, limit=100_000))
    channel.broadcast(Batch.of(b"c"))  # held, and after the late client joined
    await early.until(lambda: len(early.written) == 2)
    assert early.written == [b"a", b"bc"]
    assert late.written == [b"c"]


async def test_shutdown_writes_what_is_held_before_ending_the_streams() -> None:
    channel, [conn] = flushed_channel(1, 1)  # the next tick is a second away
    channel.broadcast(Batch.of(b"a"))
    channel.broadcast(Batch.of(b"b"))
    channel.close_all(Closed.shutdown)
    assert conn.written == [b"a", b"b"]
    assert len(channel) == 0


async def test_flush_hz_zero_writes_every_event_at_once() -> None:
    channel, [conn] = flushed_channel(0, 1)
    for body in (b"1", b"2", b"3"):
        channel.broadcast(Batch.of(body))
    assert conn.written == [b"1", b"2", b"3"]
    assert (channel.writes, channel.deliveries, channel.bytes_written) == (3, 3, 3 * len(http_chunk(b"1")))

"""Fan-out: hand the same encoded bytes to every subscriber of a stream.

The broadcaster writes to each client itself instead of waking one task per client per
event. Under uvicorn's httptools protocol it writes the HTTP chunk straight to the socket's
transport (`app/streaming/wire.py`): one C call per client, the chunk framed once for all of them.
Elsewhere it calls the client's ASGI `send` and steps that coroutine by hand (`drive`), which
costs one function call when the socket is writable.

When a client's socket backs up, its frames wait in a bounded buffer that conflates: a newer
update of the same metric card replaces the pending one, so a lagging client gets the latest
value, not a backlog. Activity items and alerts are never conflated away. The buffer goes out
in one write when the socket drains; a client whose buffer still overflows is dropped and
resumes from its `Last-Event-ID` when it reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from app.streaming.wire import Wire, direct_wire

log = logging.getLogger("livedash.fanout")

Send = Callable[[Any], Awaitable[None]]
Steps = Generator[Any, None, Any]
Part = tuple[Hashable | None, bytes]
"""One SSE frame and its conflation key: frames with the same key supersede each other."""
_UNIQUE = itertools.count()  # keys for frames that are never conflated


class Closed(StrEnum):
    """Why a subscription ended."""

    disconnect = "disconnect"
    overflow = "overflow"
    shutdown = "shutdown"
    revoked = "revoked"  # the viewer link it was opened with was revoked
    error = "error"


Done = Callable[[BaseException | None, Any], None]


def drive(awaitable: Awaitable[Any], done: Done) -> Steps:
    """Run `awaitable` to its end without a Task, then call `done(exception, result)`.

    When nothing has to wait, `done` runs before `drive` returns. The coroutine must await
    only asyncio futures, as uvicorn's `send` and `receive` do. Returns the running steps,
    which `close()` abandons.
    """
    steps = awaitable.__await__()
    _Resume(steps, done).step()
    return steps


class _Resume:
    __slots__ = ("coro", "done")

    def __init__(self, coro: Steps, done: Done) -> None:
        self.coro = coro
        self.done = done

    def step(self, _future: object = None) -> None:
        try:
            yielded = self.coro.send(None)
        except StopIteration as stop:
            self.done(None, stop.value)
        except BaseException as exc:
            self.done(exc, None)
        else:
            if yielded is None:  # a bare yield, as in sleep(0): go again next loop pass
                asyncio.get_running_loop().call_soon(self.step)
            else:
                yielded._asyncio_future_blocking = False
                yielded.add_done_callback(self.step)


def http_chunk(body: bytes) -> bytes:
    """`body` framed as one HTTP/1.1 chunk, as uvicorn would write it."""
    return b"%x\r\n%b\r\n" % (len(body), body)


class Batch:
    """What one broadcast sends: the frames, joined once and chunk-framed once for everybody."""

    __slots__ = ("body", "chunk", "parts")

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = parts
        self.body = b"".join(frame for _, frame in parts)
        self.chunk = http_chunk(self.body)

    @classmethod
    def of(cls, frame: bytes) -> Batch:
        """A batch of one frame that is never conflated."""
        return cls(((None, frame),))


class Subscriber:
    """One open stream: how to write to it, its pending frames, and a future resolved on close."""

    __slots__ = (
        "_busy",
        "_channel",
        "_limit",
        "_pending",
        "_pending_bytes",
        "_send",
        "_wire",
        "closed",
        "conflated",
        "handler",
        "ready",
    )

    def __init__(self, send: Send, limit: int) -> None:
        """The stream handler awaits `receive()` itself; it sets `handler`, so that a close
        from our side (shutdown, overflow) wakes it."""
        self._send = send
        self._wire: Wire | None = direct_wire(send, high_water=min(16_384, limit), send_buffer=limit)
        self.ready = self._wire
        """The wire while frames may go straight out (direct, nothing pending, open), else None."""
        self._limit = limit
        self._pending: dict[Hashable, bytes] | None = None  # made when first needed
        self._pending_bytes = 0
        self._channel: Channel | None = None
        self._busy = False
        self.conflated = 0
        """Frames replaced by a newer one of the same card while this client lagged."""
        self.closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()
        self.handler: asyncio.Task[Any] | None = None
        """The stream handler's task, cancelled when the server ends the subscription."""

    @property
    def direct(self) -> bool:
        """Frames go straight to uvicorn's transport (else through the ASGI `send`)."""
        return self._wire is not None

    @property
    def writable(self) -> bool:
        """True when nothing is in flight, so a last frame can still be sent."""
        return not self._busy

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting for this client's socket to drain."""
        return self._pending_bytes

    def push(self, batch: Batch) -> None:
        """Deliver `batch`: written at once when the socket allows, else held (conflating)."""
        if self._busy:
            if not self.closed.done():
                self._hold(batch.parts)
            return
        if self.closed.done():
            return
        self._out(batch.body, batch.chunk)

    def _out(self, body: bytes, chunk: bytes) -> None:
        """Write now: `chunk` (`body` framed) to a direct wire, else `body` through `send`."""
        wire = self._wire
        if wire is None:
            self._write(body)
        elif wire.gone:
            self.close(Closed.disconnect)
        elif wire.write(chunk):
            self.backed_up()

    def backed_up(self) -> None:
        """The direct write left the transport past its high-water mark: hold frames until it drains."""
        assert self._wire is not None
        self._busy = True
        self.ready = None
        drive(self._wire.drain(), self._written)

    def close(self, reason: Closed) -> None:
        """End the subscription; the stream handler wakes and finishes the response."""
        if self.closed.done():
            return
        self._pending = None
        self._pending_bytes = 0
        self.ready = None
        if self._channel is not None:
            self._channel.discard(self)
            self._channel.ended[reason] += 1
            self._channel = None
        self.closed.set_result(reason)
        if self.handler is not None and self.handler is not asyncio.current_task():
            self.handler.cancel()  # it waits in receive(): wake it to finish the response

    async def hang_up(self) -> None:
        """Drop the connection of a client we closed for overflow, and wait until the server
        has seen it go, so the response ends as a lost connection rather than an unfinished
        one. Only possible with a direct wire; elsewhere the server closes it on return."""
        if self._wire is None:
            return
        self._wire.abort()
        for _ in range(10):
            if self._wire.gone:
                return
            await asyncio.sleep(0)

    def _hold(self, parts: Sequence[Part]) -> None:
        pending = self._pending
        if pending is None:
            pending = self._pending = {}
        for key, frame in parts:
            if key is None:
                key = next(_UNIQUE)
            else:
                old = pending.pop(key, None)  # re-inserted last: ids stay in order on the wire
                if old is not None:
                    self._pending_bytes -= len(old)
                    self.conflated += 1
                    if self._channel is not None:
                        self._channel.conflations += 1
            pending[key] = frame
            self._pending_bytes += len(frame)
        if self._pending_bytes > self._limit:
            log.warning(
                "dropping a client that stopped reading (%d bytes waiting after conflation, limit %d);"
                " it resumes from its last event id when it reconnects",
                self._pending_bytes,
                self._limit,
            )
            self.close(Closed.overflow)

    def _write(self, body: bytes) -> None:
        self._busy = True
        drive(self._send({"type": "http.response.body", "body": body, "more_body": True}), self._written)

    def _written(self, exc: BaseException | None, _result: object) -> None:
        self._busy = False
        if exc is not None:
            log.debug("send failed: %r", exc)
            self.close(Closed.error)
            return
        if self.closed.done():
            return
        self.ready = self._wire
        if not self._pending:
            return
        body = b"".join(self._pending.values())
        self._pending = None
        self._pending_bytes = 0
        self._out(body, http_chunk(body))


class Channel:
    """The subscribers of one stream format; `broadcast` hands each the same bytes.

    With a flush rate, a stream is written at most `flush_hz` times a second, however many
    cards change: frames that arrive within `1/flush_hz` of the last write wait and leave
    together in the next one, joined and chunk-framed once for every client on that tick.
    A channel that has been quiet for an interval writes at once, so a light board loses no
    latency. Nothing is dropped here; conflation stays with each lagging subscriber.
    """

    __slots__ = (
        "_held",
        "_interval",
        "_last",
        "_late",
        "_subscribers",
        "_timer",
        "bytes_written",
        "conflations",
        "deliveries",
        "ended",
        "writes",
    )

    def __init__(self, flush_hz: float = 0.0) -> None:
        self._subscribers: dict[Subscriber, None] = {}
        self._interval = 1.0 / flush_hz if flush_hz > 0 else 0.0
        self._last = -math.inf  # loop time of the last write to every subscriber
        self._held: list[Part] = []  # frames waiting for the next flush
        self._late: dict[Subscriber, int] = {}  # joined while frames were held: how many it has
        self._timer: asyncio.TimerHandle | None = None
        # Counted per broadcast and per flush, never per client: /metrics reads them.
        self.deliveries = 0
        """Frames handed to clients (one frame to one client counts one)."""
        self.writes = 0
        """Writes to clients (one write may carry many frames)."""
        self.bytes_written = 0
        self.conflations = 0
        """Frames a lagging client's newer frame of the same card replaced."""
        self.ended = dict.fromkeys(Closed, 0)
        """Subscriptions ended, by why."""

    def __len__(self) -> int:
        return len(self._subscribers)

    def add(self, subscriber: Subscriber) -> None:
        """Start delivering to `subscriber`; it leaves again when its `closed` resolves.

        A subscriber that joins while frames are held got them in its catch-up already (the
        replay window holds them), so the next flush skips those for it.
        """
        self._subscribers[subscriber] = None
        subscriber._channel = self
        if self._held:
            self._late[subscriber] = len(self._held)

    def discard(self, subscriber: Subscriber) -> None:
        """Stop delivering to `subscriber` (it calls this when it closes)."""
        self._subscribers.pop(subscriber, None)
        self._late.pop(subscriber, None)

    def broadcast(self, batch: Batch) -> None:
        """Deliver `batch` to every subscriber: now, or with the next flush."""
        if self._interval:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._held or now < self._last + self._interval:
                self._held.extend(batch.parts)
                if self._timer is None:
                    self._timer = loop.call_at(self._last + self._interval, self.flush)
                return
            self._last = now
        self._write(batch)

    def flush(self) -> None:
        """Write what is held now, in one write per client (the timer calls it; so does shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, []
        late, self._late = self._late, {}
        if not held:
            return
        self._last = asyncio.get_running_loop().time()
        if late:
            for subscriber, seen in late.items():
                if seen < len(held):
                    subscriber.push(Batch(held[seen:]))
        self._write(Batch(held), skip=late)

    def _write(self, batch: Batch, skip: Mapping[Subscriber, int] | None = None) -> None:
        """Push `batch` to every subscriber (but `skip`), in subscription order.

        This loop runs once per client per write, so the common case (a direct wire with
        nothing pending) is inlined: a few attribute reads and one C call to the transport.
        """
        chunk = batch.chunk
        clients = len(self._subscribers) - (len(skip) if skip else 0)
        self.writes += clients
        self.deliveries += clients * len(batch.parts)
        self.bytes_written += clients * len(chunk)
        for subscriber in list(self._subscribers):
            if skip and subscriber in skip:
                continue
            wire = subscriber.ready
            if wire is not None and not wire.cycle.disconnected:
                wire.transport.write(chunk)
                if wire.flow.write_paused:
                    subscriber.backed_up()
            else:
                subscriber.push(batch)

    def close_all(self, reason: Closed) -> None:
        """Write what is held, then end every subscription, as on shutdown."""
        self.flush()
        for subscriber in list(self._subscribers):
            subscriber.close(reason)

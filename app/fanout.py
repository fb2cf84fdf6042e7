"""Fan-out: hand the same encoded bytes to every subscriber of a stream.

The broadcaster calls each client's ASGI `send` itself instead of waking one task per client
per event. A `send` to a healthy socket finishes without suspending, so the common path costs
one function call; when the socket's buffer is full, `send` suspends on the server's drain
future and we continue it from that future's callback (what a Task would do, without
allocating one). Frames that arrive meanwhile wait in a bounded per-client buffer and go out
together in one `send`; a client whose buffer overflows is dropped, and resumes from its
`Last-Event-ID` when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from enum import StrEnum
from typing import Any

log = logging.getLogger("livedash.fanout")

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
Steps = Generator[Any, None, Any]


class Closed(StrEnum):
    """Why a subscription ended."""

    disconnect = "disconnect"
    overflow = "overflow"
    shutdown = "shutdown"
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


class Subscriber:
    """One open stream: its `send`, its pending bytes, and a future that resolves on close."""

    __slots__ = ("_busy", "_limit", "_pending", "_pending_bytes", "_receiving", "_send", "closed")

    def __init__(self, send: Send, receive: Receive, limit: int) -> None:
        self._send = send
        self._limit = limit
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._busy = False
        self.closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()
        self._receiving: Steps | None = None
        self._listen(receive)

    @property
    def writable(self) -> bool:
        """True when nothing is in flight, so a last frame can still be sent."""
        return not self._busy

    def push(self, chunk: bytes) -> None:
        """Queue `chunk` for this client, writing it at once when the socket allows."""
        if self.closed.done():
            return
        if self._busy:
            self._pending.append(chunk)
            self._pending_bytes += len(chunk)
            if self._pending_bytes > self._limit:
                log.warning(
                    "dropping a client that stopped reading (%d bytes waiting, limit %d);"
                    " it resumes from its last event id when it reconnects",
                    self._pending_bytes,
                    self._limit,
                )
                self.close(Closed.overflow)
            return
        self._write(chunk)

    def close(self, reason: Closed) -> None:
        """End the subscription; the stream handler wakes and finishes the response."""
        if self.closed.done():
            return
        self._pending.clear()
        self._pending_bytes = 0
        self.closed.set_result(reason)
        if self._receiving is not None:
            self._receiving.close()
            self._receiving = None

    def _write(self, chunk: bytes) -> None:
        self._busy = True
        drive(self._send({"type": "http.response.body", "body": chunk, "more_body": True}), self._written)

    def _written(self, exc: BaseException | None, _result: object) -> None:
        self._busy = False
        if exc is not None:
            log.debug("send failed: %r", exc)
            self.close(Closed.error)
            return
        if self._pending and not self.closed.done():
            chunk = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            self._write(chunk)

    def _listen(self, receive: Receive) -> None:
        # The stream handler has read the GET's request message already, so receive() now
        # returns only when the client goes away. Driven without a task, like the sends.
        waiting = True

        def received(exc: BaseException | None, message: Any) -> None:
            nonlocal waiting
            waiting = False
            if self.closed.done():
                return
            self._receiving = None
            if exc is None and isinstance(message, dict) and message.get("type") == "http.request":
                self._listen(receive)  # a stray body chunk: keep listening
            else:
                self.close(Closed.disconnect)

        steps = drive(receive(), received)
        if waiting:
            self._receiving = steps


class Channel:
    """The subscribers of one stream format; `broadcast` hands each the same bytes."""

    __slots__ = ("_subscribers", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: dict[Subscriber, None] = {}

    def __len__(self) -> int:
        return len(self._subscribers)

    def add(self, subscriber: Subscriber) -> None:
        """Start delivering to `subscriber`; it leaves again when its `closed` resolves."""
        self._subscribers[subscriber] = None
        subscriber.closed.add_done_callback(lambda _: self._subscribers.pop(subscriber, None))

    def broadcast(self, chunk: bytes) -> None:
        """Push `chunk` to every subscriber, in subscription order."""
        for subscriber in list(self._subscribers):
            subscriber.push(chunk)

    def close_all(self, reason: Closed) -> None:
        """End every subscription, as on shutdown."""
        for subscriber in list(self._subscribers):
            subscriber.close(reason)

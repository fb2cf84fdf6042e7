"""Fakes shared by the unit tests: a clock, an ASGI connection, uvicorn's side of a socket, a hub's log.

Each fake that something writes to can be awaited with `until(condition)`, so a test waits for
what it wants to see rather than for a number of loop passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from app.domain.events import Change, Event
from tests.support.sse_client import Event as SSEEvent
from tests.support.sse_client import Parser

WAIT = 2.0
"""Seconds a test waits for something that happens within a few loop passes when all is well."""


class Clock:
    """A clock the test moves by hand (`clock.now += 1`), for `time.time` or `time.monotonic`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Watched:
    """Something a test can await a condition on; subclasses call `changed()` after each change."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def changed(self) -> None:
        for waiter in list(self._waiters):
            condition, future = waiter
            if future.done():
                self._waiters.remove(waiter)
            elif condition():
                future.set_result(None)
                self._waiters.remove(waiter)

    async def until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Return once `condition()` holds (checked now and after every change)."""
        if condition():
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((condition, future))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise AssertionError(f"not seen within {timeout}s: {condition}") from None


class FakeConnection(Watched):
    """An ASGI send/receive pair whose socket can be made to stall, and a client that can leave.

    `receive()` first returns the GET's empty request body, as a server does, then waits for
    what the test makes the client do: `leave()` (an `http.disconnect`) or `stray()` (another
    body chunk).
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.written: list[bytes] = []
        self.sends = 0
        """Calls of `send`, including one still waiting for a stalled socket."""
        self.completed = 0
        """Calls of `send` that returned."""
        self.stall: asyncio.Future[None] | None = None
        self.receives = 0
        """Calls of `receive`, including one still waiting for the client."""
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self._parser = Parser()
        self.events: list[SSEEvent] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sends += 1
        try:
            if self.stall is not None:
                await self.stall  # as uvicorn's flow.drain() when the write buffer is full
            self.messages.append(message)
            if message["type"] == "http.response.body":
                self.written.append(message["body"])
                self.events += self._parser.feed(message["body"].decode())
        finally:
            self.completed += 1
            self.changed()

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        self.changed()
        return await self._inbox.get()

    def leave(self) -> None:
        """The client goes away: the pending `receive()` returns `http.disconnect`."""
        self._inbox.put_nowait({"type": "http.disconnect"})

    def stray(self, body: bytes) -> None:
        """The client sends more of the request body (nothing a GET should, but one may)."""
        self._inbox.put_nowait({"type": "http.request", "body": body, "more_body": True})

    def block(self) -> None:
        """From now on sends wait, as on a socket whose peer stopped reading."""
        self.stall = asyncio.get_running_loop().create_future()

    async def unblock(self) -> None:
        """Let the stalled send finish, and return once every send in flight has returned
        (a subscriber that held frames has flushed them by then: it does so as the send returns)."""
        stall, self.stall = self.stall, None
        assert stall is not None
        stall.set_result(None)
        await self.until(lambda: self.completed == self.sends)

    async def until_events(self, count: int) -> list[SSEEvent]:
        """The first `count` events, once they have arrived."""
        await self.until(lambda: len(self.events) >= count)
        return self.events[:count]

    @property
    def data(self) -> bytes:
        return b"".join(self.written)

    @property
    def status(self) -> int | None:
        """The response status, once it started."""
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        return cast(int, starts[0]["status"]) if starts else None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        return list(starts[0]["headers"]) if starts else []

    @property
    def ended(self) -> bool:
        """The app ended the response with a last body message (`more_body` false)."""
        return any(m["type"] == "http.response.body" and not m.get("more_body", False) for m in self.messages)


class FakeTransport(Watched):
    """The transport under a real uvicorn cycle; it backs up like a socket whose peer stopped reading.

    `abort()` drops the connection as asyncio does: uvicorn hears of it a loop pass later.
    """

    def __init__(self, sock: Any = None) -> None:
        super().__init__()
        self.data = bytearray()
        self.high_water: int | None = None
        self.backed_up = False
        self.aborted = False
        self.flow: FlowControl | None = None
        self.cycle: RequestResponseCycle | None = None
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.data += data
        if self.backed_up and self.flow is not None:
            self.flow.pause_writing()  # as asyncio calls the protocol's pause_writing()
        self.changed()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    def drained(self) -> None:
        """The peer read again: the buffer fell below its low-water mark."""
        self.backed_up = False
        assert self.flow is not None
        self.flow.resume_writing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" and self.sock is not None else default

    def abort(self) -> None:
        self.aborted = True
        asyncio.get_running_loop().call_soon(self.lost)

    def lost(self) -> None:
        """What uvicorn's `connection_lost` does to the cycle and its flow control."""
        assert self.cycle is not None and self.flow is not None
        self.cycle.disconnected = True
        self.cycle.message_event.set()
        self.flow.resume_writing()
        self.changed()

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.aborted


async def uvicorn_stream(
    transport: FakeTransport, headers: Iterable[tuple[bytes, bytes]] = ((b"x", b"y"),)
) -> RequestResponseCycle:
    """A real uvicorn httptools response cycle for a GET, its response started with `headers`
    (chunked unless they give a content-length); what the start wrote is cleared."""
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
    transport.cycle = cycle
    await cycle.send({"type": "http.response.start", "status": 200, "headers": list(headers)})
    transport.data.clear()
    return cycle


class FakeEventLog(Watched):
    """A hub's log for catch-up: `past` is what `older()` answers; both calls wait for `release()`
    when `held`, so a test can act while catch-up is waiting on the hub."""

    def __init__(self, past: list[tuple[Event, Change]] | None = None, held: bool = False) -> None:
        super().__init__()
        self.past = past
        self.asked: list[tuple[str, str]] = []
        """(`older` or `caught_up`, the id asked for), in order."""
        self._gate: asyncio.Future[None] | None = asyncio.get_running_loop().create_future() if held else None

    async def older(self, event_id: str) -> list[tuple[Event, Change]] | None:
        await self._ask("older", event_id)
        return self.past

    async def caught_up(self, event_id: str) -> None:
        await self._ask("caught_up", event_id)

    def release(self) -> None:
        """Let the waiting call (and every later one) answer."""
        assert self._gate is not None
        self._gate.set_result(None)

    async def _ask(self, what: str, event_id: str) -> None:
        self.asked.append((what, event_id))
        self.changed()
        if self._gate is not None:
            await self._gate

"""Fakes shared by the unit tests: a clock moved by hand and an ASGI connection."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.sse_client import Event, Parser


class Clock:
    """A clock the test moves by hand (`clock.now += 1`), for `time.time` or `time.monotonic`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeConnection:
    """An ASGI send/receive pair whose socket can be made to stall, and a client that can leave.

    `receive()` first returns the GET's empty request body, as a server does, then waits
    until `leave()`.
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.written: list[bytes] = []
        self.sends = 0
        self.stall: asyncio.Future[None] | None = None
        self.requested = False
        self.gone: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._parser = Parser()
        self.events: list[Event] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sends += 1
        if self.stall is not None:
            await self.stall  # as uvicorn's flow.drain() when the write buffer is full
        self.messages.append(message)
        if message["type"] == "http.response.body":
            self.written.append(message["body"])
            self.events += self._parser.feed(message["body"].decode())

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
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

"""Direct writes to a uvicorn connection, skipping the ASGI `send` coroutine per event.

Broadcasting to 10,000 streams calls the write path 10,000 times per event, so its cost is
the fan-out's cost. uvicorn's httptools `send` for a body chunk checks flow control, frames
the chunk (`<hex size>\\r\\n<body>\\r\\n`) and calls `transport.write`; a coroutine per call
and a message dict per call are most of what we would pay. Once the response has started
with chunked encoding, writing the same framed bytes to the transport ourselves is exactly
what uvicorn would have done, and `send` still ends the response normally.

Only uvicorn's httptools protocol is recognised: `send` is then a bound method of its
request-response cycle (`send.__self__`), which holds the transport. The streams reach the
server's own `send` because `app.web.asgi.StreamsFirst` hands them to their handler before
Litestar (or any middleware) can wrap it. Any other server gets `None` and the portable path.
The attributes read here are uvicorn's private ones, which is why pyproject.toml gives uvicorn
an upper bound and tests/streaming/test_wire.py fails if the pinned uvicorn stops offering them.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

_UVICORN_HTTPTOOLS = "uvicorn.protocols.http.httptools_impl"


class Wire:
    """The transport behind one streaming response, with uvicorn's view of its state."""

    __slots__ = ("cycle", "flow", "transport")

    def __init__(self, cycle: Any) -> None:
        # Public, so the broadcast loop reads them without a method call per client:
        # `cycle.disconnected` (client gone), `transport.write(chunk)`, `flow.write_paused`.
        self.cycle = cycle
        self.transport = cycle.transport
        self.flow = cycle.flow

    def write(self, chunk: bytes) -> bool:
        """Write a framed chunk (check `gone` first); True when the socket is now backed up."""
        self.transport.write(chunk)
        return bool(self.flow.write_paused)

    def abort(self) -> None:
        """Drop the connection at once (a client past its buffer: nothing more can be sent)."""
        self.transport.abort()

    @property
    def gone(self) -> bool:
        """The client went away (uvicorn noticed the connection was lost)."""
        return bool(self.cycle.disconnected)

    def drain(self) -> Awaitable[None]:
        """Resolves when the transport is below its low-water mark again, or the client left."""
        drained: Awaitable[None] = self.flow.drain()
        return drained


def direct_wire(send: Callable[..., Any], high_water: int, send_buffer: int) -> Wire | None:
    """A `Wire` for `send` when it is uvicorn's httptools send of a started chunked response.

    `high_water` caps what the transport itself buffers for a stalled client and `send_buffer`
    the kernel's socket buffer, so the bytes a slow client can pin stay near the stream's own
    buffer limit.
    """
    cycle = getattr(send, "__self__", None)
    if cycle is None or type(cycle).__module__ != _UVICORN_HTTPTOOLS:
        return None
    if not (getattr(cycle, "response_started", False) and getattr(cycle, "chunked_encoding", None) is True):
        return None
    if getattr(cycle, "response_complete", True) or getattr(cycle, "flow", None) is None:
        return None
    transport = cycle.transport
    transport.set_write_buffer_limits(high=high_water)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # The kernel would otherwise grow the send buffer to megabytes for a client that stops
        # reading; capped, a lagging client backs up into our conflating buffer instead.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    return Wire(cycle)

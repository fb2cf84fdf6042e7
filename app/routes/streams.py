"""The two event streams, as raw ASGI handlers.

They are ASGI rather than Litestar `Stream` responses so that the broadcaster can call this
connection's `send` itself (see app/fanout.py): no generator, queue or task per client.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.dashboard import Dashboard, StreamFormat
from app.fanout import Closed, is_request

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


def last_event_id(scope: Scope) -> str | None:
    """The header a reconnecting EventSource sends, else `?lastEventId=` (our page script)."""
    for name, value in scope["headers"]:
        if name == b"last-event-id" and value:
            return value.decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("lastEventId")
    return values[-1] if values else None


async def serve(scope: Scope, receive: Receive, send: Send, fmt: StreamFormat, dashboard: Dashboard) -> None:
    """Send the catch-up and then live events until the client leaves or we shut down."""
    method = scope.get("method")
    if method not in ("GET", "HEAD"):
        await send(_start(405, [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain")]))
        await send(_body(b"only GET opens a stream", more=False))
        return
    await receive()  # the GET's empty body; from now on receive() means "client went away"
    await send(_start(200, HEADERS))
    if method == "HEAD":
        await send(_body(b"", more=False))
        return
    subscriber = await dashboard.subscribe(fmt, send, None, last_event_id(scope))
    subscriber.handler = asyncio.current_task()
    try:
        # Until the client leaves; a close from our side (shutdown, overflow) cancels the wait.
        while not subscriber.closed.done():
            if not is_request(await receive()):
                subscriber.close(Closed.disconnect)
    except asyncio.CancelledError:
        if not subscriber.closed.done():
            raise  # cancelled by the server (graceful-shutdown timeout), not by us
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
    finally:
        subscriber.close(Closed.error)  # no-op unless an error ended the wait
    reason = subscriber.closed.result()
    if reason is Closed.shutdown and subscriber.writable:
        await send(_body(b"", more=False))
    elif reason is Closed.overflow:
        await subscriber.hang_up()


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> HTTPResponseStartEvent:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": body, "more_body": more}


STREAM_PATHS = {
    "/dashboard/stream": StreamFormat.html,  # HTML fragments named for the element that swaps them in
    "/api/dashboard/stream": StreamFormat.json,  # JSON events for `curl -N` and programs
}


class StreamsFirst:
    """The ASGI app uvicorn runs: stream requests go straight to `serve`, the rest to Litestar.

    A stream is one long request per screen, so what the framework keeps per request (its
    middleware frames, scope state, a `send` wrapper) is kept ten thousand times over: about
    3 KiB and 0.1 ms of CPU per connection, a quarter of the whole.
    """

    def __init__(self, app: Litestar, dashboard: Dashboard) -> None:
        self.app = app
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            fmt = STREAM_PATHS.get(scope["path"])
            if fmt is not None:
                await serve(scope, receive, send, fmt, self.dashboard)
                return
        await self.app(scope, receive, send)

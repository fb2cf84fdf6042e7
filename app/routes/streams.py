"""The two event streams, as raw ASGI handlers.

They are ASGI rather than Litestar `Stream` responses so that the broadcaster can call this
connection's `send` itself (see app/fanout.py): no generator, queue or task per client.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from litestar import asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.dashboard import Dashboard, StreamFormat
from app.fanout import Closed

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


async def serve(scope: Scope, receive: Receive, send: Send, fmt: StreamFormat) -> None:
    """Send the catch-up and then live events until the client leaves or we shut down."""
    method = scope.get("method")
    if method not in ("GET", "HEAD"):
        await send(_start(405, [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain")]))
        await send(_body(b"only GET opens a stream", more=False))
        return
    dashboard: Dashboard = scope["app"].state.dashboard
    await receive()  # the GET's empty body; from now on receive() means "client went away"
    await send(_start(200, HEADERS))
    if method == "HEAD":
        await send(_body(b"", more=False))
        return
    subscriber = await dashboard.subscribe(fmt, send, receive, last_event_id(scope))
    try:
        reason = await subscriber.closed
    finally:
        subscriber.close(Closed.error)  # no-op unless this task was cancelled
    if reason is Closed.shutdown and subscriber.writable:
        await send(_body(b"", more=False))


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> HTTPResponseStartEvent:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": body, "more_body": more}


@asgi("/dashboard/stream", copy_scope=False)
async def html_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """HTML fragments named for the element that swaps them in (`sse-swap`)."""
    await serve(scope, receive, send, StreamFormat.html)


@asgi("/api/dashboard/stream", copy_scope=False)
async def json_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """JSON events for `curl -N` and programs: metric-update, activity, alert, alert-resolved."""
    await serve(scope, receive, send, StreamFormat.json)

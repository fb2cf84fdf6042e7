"""The stream handler, as raw ASGI: catch-up, then live events until either side ends it.

It is ASGI rather than a Litestar `Stream` response so that the broadcaster can write to this
connection itself (see app/streaming/fanout.py): no generator, queue or task per client.
The handler awaits `receive()` itself: once the GET's request message is read, it returns
only when the client goes away; a close from our side (shutdown, overflow) cancels the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.service.dashboard import Dashboard
from app.streaming.fanout import Closed, Subscriber
from app.streaming.streams import StreamFormat

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


def last_event_id(scope: Scope) -> str | None:
    """The header a reconnecting EventSource sends, else `?lastEventId=` (our page script)."""
    for name, value in scope["headers"]:
        if name == b"last-event-id" and value:
            return value.decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("lastEventId")
    return values[-1] if values else None


async def serve(
    scope: Scope,
    receive: Receive,
    send: Send,
    fmt: StreamFormat,
    dashboard: Dashboard,
    opened: Callable[[Subscriber], None] | None = None,
) -> None:
    """Send the catch-up and then live events until the client leaves or we shut down.

    `opened` hears of the subscription (the viewer links watch the streams of each link).
    """
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
    subscriber = await dashboard.streams.subscribe(fmt, send, last_event_id(scope), page_build(scope))
    subscriber.handler = asyncio.current_task()
    if opened is not None:
        opened(subscriber)
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
    if reason in (Closed.shutdown, Closed.revoked) and subscriber.writable:
        await send(_body(b"", more=False))
    elif reason is Closed.overflow:
        await subscriber.hang_up()


def page_build(scope: Scope) -> str | None:
    """`?build=`: the build that rendered the page opening this stream (see Streams.subscribe)."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("build")
    return values[-1] if values else None


def is_request(message: Any) -> bool:
    """A stray body chunk of the GET, as opposed to `http.disconnect`."""
    return isinstance(message, dict) and message.get("type") == "http.request"


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> HTTPResponseStartEvent:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": body, "more_body": more}

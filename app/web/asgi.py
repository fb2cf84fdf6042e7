"""The ASGI app behind the gate: the two stream paths go to their handler first, the rest to Litestar."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Message, Receive, Scope, Send

from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.streaming.fanout import Subscriber
from app.streaming.streams import StreamFormat
from app.web.access import Refusal, StreamCounter, client_key
from app.web.gate import VIEWER, Viewer
from app.web.metrics import IngestCounts, ingest_route
from app.web.streams import serve

STREAM_PATHS = {
    "/dashboard/stream": StreamFormat.html,  # HTML fragments named for the element that swaps them in
    "/api/dashboard/stream": StreamFormat.json,  # JSON events for `curl -N` and programs
}
RETRY_AFTER = b"5"


class StreamsFirst:
    """Stream requests go straight to `serve`, the rest to Litestar.

    A stream is one long request per screen, so what the framework keeps per request (its
    middleware frames, scope state, a `send` wrapper) is kept ten thousand times over: about
    3 KiB and 0.1 ms of CPU per connection, a quarter of the whole. Each stream is counted
    against its client's and the server's caps (`StreamCounter`) for as long as it is open.
    """

    def __init__(
        self,
        app: Litestar,
        dashboard: Dashboard,
        counter: StreamCounter,
        viewers: Viewers,
        ingest: IngestCounts,
    ) -> None:
        self.app = app
        self.dashboard = dashboard
        self.counter = counter
        self.viewers = viewers
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"]
            fmt = STREAM_PATHS.get(path)
            if fmt is not None:
                await self.stream(scope, receive, send, fmt)
                return
            if ingest_route(path) is not None:
                send = self._counting(scope["method"], path, send)
        await self.app(scope, receive, send)

    def _counting(self, method: str, path: str, send: Send) -> Send:
        """`send`, counting the answer's status for /metrics as the response starts."""

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.ingest.count(method, path, message["status"])
            await send(message)

        return counted

    async def stream(self, scope: Scope, receive: Receive, send: Send, fmt: StreamFormat) -> None:
        """Serve one stream while it fits under the caps, else refuse it with Retry-After."""
        peer = scope.get("client")
        client = client_key(peer[0]) if peer else ""
        refusal = self.counter.acquire(client)
        if refusal is not None:
            await refuse(send, refusal)
            return
        viewer: Viewer | None = scope.get("state", {}).get(VIEWER)
        link_id = viewer.link_id if viewer is not None else None

        def opened(subscriber: Subscriber) -> None:
            if link_id is not None:
                self.viewers.watch(link_id, subscriber)

        try:
            await serve(scope, receive, send, fmt, self.dashboard, opened)
        finally:
            self.counter.release(client)


async def refuse(send: Send, refusal: Refusal) -> None:
    """429 (this client holds too many) or 503 (the server is full), with when to retry."""
    body = json.dumps({"status_code": refusal.status, "detail": refusal.message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", RETRY_AFTER),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

"""The ASGI app uvicorn runs: the two stream paths go to their handler first, the rest to the gate."""

from __future__ import annotations

import json
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import Message, Receive, Scope, Send

from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.streaming.fanout import Subscriber
from app.streaming.streams import StreamFormat
from app.web.access import Refusal, StreamCounter, client_key
from app.web.gate import VIEWER, Gate, Viewer
from app.web.metrics import IngestCounts, ingest_route
from app.web.streams import serve

STREAM_PATHS = {
    "/dashboard/stream": StreamFormat.html,  # HTML fragments named for the element that swaps them in
    "/api/dashboard/stream": StreamFormat.json,  # JSON events for `curl -N` and programs
}
RETRY_AFTER = b"5"


class StreamsFirst:
    """The app uvicorn runs: stream requests go straight to `serve`, the rest through the gate.

    A stream is one long request per screen, so what is kept per request (middleware frames,
    scope state, a `send` wrapper) is kept ten thousand times over: about 3 KiB and 0.1 ms of
    CPU per connection, a quarter of the whole. So a stream passes the gate's check (`admit`)
    and is then served from this frame: an open stream holds this frame and `serve`'s only.
    Each stream is counted against its client's and the server's caps (`StreamCounter`) for
    as long as it is open.
    """

    def __init__(
        self,
        gate: Gate,
        dashboard: Dashboard,
        counter: StreamCounter,
        viewers: Viewers,
        ingest: IngestCounts,
    ) -> None:
        self.gate = gate
        self.dashboard = dashboard
        self.counter = counter
        self.viewers = viewers
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"]
            fmt = STREAM_PATHS.get(path)
            if fmt is not None:
                if not await self.gate.admit(scope, send):
                    return
                peer = scope.get("client")
                client = client_key(peer[0]) if peer else ""
                refusal = self.counter.acquire(client)
                if refusal is not None:
                    await refuse(send, refusal)
                    return
                try:
                    await serve(scope, receive, send, fmt, self.dashboard, self._opened(scope))
                finally:
                    self.counter.release(client)
                return
            if ingest_route(path) is not None:
                send = self._counting(scope["method"], path, send)
        await self.gate(scope, receive, send)

    def _opened(self, scope: Scope) -> Callable[[Subscriber], None] | None:
        """For a stream opened with a viewer link: hand its subscription to the link's watch."""
        viewer: Viewer | None = scope.get("state", {}).get(VIEWER)
        link_id = viewer.link_id if viewer is not None else None
        if link_id is None:
            return None
        return lambda subscriber: self.viewers.watch(link_id, subscriber)

    def _counting(self, method: str, path: str, send: Send) -> Send:
        """`send`, counting the answer's status for /metrics as the response starts."""

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.ingest.count(method, path, message["status"])
            await send(message)

        return counted


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

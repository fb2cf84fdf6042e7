"""Control calls through the real ingest API: seed cards, add activity items.

Plain http.client on one keep-alive connection: these run before clients connect or in an
executor thread, never on the load client's event loop.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from bench.servers import Server

BURST_PREFIX = "bench-burst "


def burst_message(k: int) -> str:
    """Activity item k of the slow-consumer burst: its number, padded to about 450 bytes."""
    return f"{BURST_PREFIX}{k:06d} " + "x" * 430


class Control:
    """One keep-alive connection to `server`, with its token."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.headers = {"Content-Type": "application/json"}
        if server.token:
            self.headers["Authorization"] = f"Bearer {server.token}"

    def post(self, path: str, body: Any) -> None:
        self.conn.request("POST", path, json.dumps(body).encode(), self.headers)
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 202:
            raise RuntimeError(f"{self.server.name}: POST {path}: {response.status} {answer[:300]!r}")

    def cards(self, names: Sequence[str], value: float) -> None:
        """One point per name, in one batch (at most 1000 names)."""
        self.post(self.server.publish_path, [{"name": name, "value": value} for name in names])

    def activity(self, messages: Iterable[str]) -> None:
        """One POST /api/activity per message, in order."""
        for message in messages:
            self.post("/api/activity", {"message": message, "actor": "bench", "level": "info"})

    def __enter__(self) -> Control:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.conn.close()

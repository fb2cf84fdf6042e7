"""Ingest throughput: batches of 100 points, back to back, on a few keep-alive connections.

The requests are built once as bytes and written by a bare `asyncio.Protocol`, so the
client spends microseconds per batch and the figure is the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, cast

from bench import servers

BATCH = 100
CONNECTIONS = 8
VARIANTS = 16  # distinct bodies in turn, so every batch changes every card


def requests(server: servers.Server, prefix: str = "ingest") -> list[bytes]:
    """Pre-built POST /api/metrics requests, each a batch of BATCH distinct names."""
    built = []
    for variant in range(VARIANTS):
        points = [{"name": f"{prefix}-{i}", "value": variant * BATCH + i} for i in range(BATCH)]
        body = json.dumps(points).encode()
        head = (
            f"POST /api/metrics HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        built.append(head + body)
    return built


class _Poster(asyncio.Protocol):
    """Sends the next request as soon as the previous response is complete, until `deadline`."""

    def __init__(self, requests: list[bytes], deadline: float, done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.deadline = deadline
        self.done = done
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.accepted = 0  # points, as the server's answers count them
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.transport.write(self.requests[self.sent % len(self.requests)])
        self.sent += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = _content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            status = int(head[9:12])
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 202:
                self.accepted += _accepted(self.buffer[end + 4 : end + 4 + length])
            self.buffer = self.buffer[end + 4 + length :]
            if time.monotonic() < self.deadline:
                self._send()
            else:
                self._finish()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    return 0


def _accepted(body: bytes) -> int:
    at = body.find(b'"accepted":') + 11
    return int(body[at : body.find(b",", at)]) if at >= 11 else 0


def _same(poster: _Poster) -> Callable[[], _Poster]:
    return lambda: poster


async def measure(server: servers.Server, seconds: float) -> dict[str, Any]:
    """Flood for `seconds` on CONNECTIONS connections; points/s counted from 202s only."""
    loop = asyncio.get_running_loop()
    built = requests(server)
    warm = loop.create_future()
    await loop.create_connection(lambda: _Poster(built[:1], 0.0, warm), "127.0.0.1", server.port)
    await asyncio.wait_for(warm, 30)  # creates the cards, so the timed batches only update them
    cpu = server.cpu()
    started = time.monotonic()
    deadline = started + seconds
    posters: list[_Poster] = []
    for _ in range(CONNECTIONS):
        done = loop.create_future()
        poster = _Poster(built, deadline, done)
        posters.append(poster)
        await loop.create_connection(_same(poster), "127.0.0.1", server.port)
    await asyncio.wait_for(asyncio.gather(*(p.done for p in posters)), seconds + 60)
    elapsed = time.monotonic() - started
    cpu = server.cpu() - cpu
    statuses: dict[int, int] = {}
    for poster in posters:
        for status, count in poster.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    accepted = sum(poster.accepted for poster in posters)
    return {
        "connections": CONNECTIONS,
        "batch": BATCH,
        "seconds": round(elapsed, 3),
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": sum(v for k, v in statuses.items() if k != 202),
        "points_per_s": round(accepted / elapsed),
        "server_cpu_us_per_point": round(cpu / accepted * 1e6, 2) if accepted else None,
        "server_cpu_pct": round(cpu / elapsed * 100, 1),
    }

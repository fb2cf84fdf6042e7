"""The first page: GET / with 24 cards and 50 feed items, timed one request after another.

Sequential requests on one keep-alive connection, so each wall time is one render plus a
loopback round trip: an upper bound on the server's time for it. Server CPU per request
comes from /proc over the whole series.
"""

from __future__ import annotations

import http.client
import time
from typing import Any

from bench import servers
from bench.control import Control
from bench.stats import summary_ms

CARDS = 24
FEED_ITEMS = 50
WARM_UP = 5


def seed(server: servers.Server, names: list[str]) -> None:
    """Give the dashboard `names` as cards and a full feed of activity items."""
    with Control(server) as control:
        control.cards(names, 1000)
        control.activity(f"bench activity item {i}: deployed web@{4800 + i}" for i in range(FEED_ITEMS))


def measure(server: servers.Server, requests: int) -> dict[str, Any]:
    """Time `requests` sequential GET / (after a few untimed ones that warm the templates)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    walls: list[float] = []
    body = b""
    errors = 0
    try:
        for _ in range(WARM_UP):
            body = _get(conn)
        cpu = server.cpu()
        for _ in range(requests):
            started = time.perf_counter()
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            walls.append(time.perf_counter() - started)
            errors += response.status != 200
        cpu = server.cpu() - cpu
    finally:
        conn.close()
    return {
        "requests": requests,
        "errors": errors,
        "cards": body.count(b'class="card"'),
        "feed_items": body.count(b'class="feed__item'),
        "bytes": len(body),
        "wall_ms": summary_ms(walls),
        "server_cpu_ms_per_request": round(cpu / requests * 1000, 3),
    }


def _get(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/")
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET /: {response.status} {body[:300]!r}")
    return body

"""A client that stops reading: its buffer is bounded, it is dropped, the others lose nothing."""

from __future__ import annotations

import socket

import anyio
import httpx
import pytest

from tests.integration.helpers import HTML_STREAM, health, open_stream, post_metrics
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

BUFFER = 65536
SERVER_ENV = {"LIVEDASH_CLIENT_BUFFER_BYTES": str(BUFFER)}
BATCHES = 12
POINTS = 1000  # one batch is ~0.6 MB of HTML frames: kernel buffers fill after a few


def stalled_stream(port: int) -> socket.socket:
    """Open the HTML stream with a tiny receive window and never read from it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {HTML_STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_stalled_client_is_dropped_and_the_others_get_everything(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    assert server.process is not None
    stalled = stalled_stream(server.port)
    try:
        async with open_stream(client, HTML_STREAM) as reader:
            await reader.next_event()  # the snapshot
            with anyio.fail_after(5):
                while (await health(client))["streams"] < 2:
                    await anyio.sleep(0.02)
            rss_before = rss_kib(server.process.pid)
            sent: list[str] = []
            received: list[str | None] = []
            for batch in range(BATCHES):
                points = [{"name": f"slow_{i % 50}", "value": batch * POINTS + i} for i in range(POINTS)]
                sent.append(await post_metrics(client, points))
                received += [event.id for event in await reader.take(POINTS, timeout=20)]
            with anyio.fail_after(5):
                while (await health(client))["streams"] != 1:
                    await anyio.sleep(0.05)
            assert len(received) == len(set(received)) == BATCHES * POINTS
            assert received[-1] == sent[-1]
            # Bounded: the server did not keep megabytes for the client that stopped reading.
            assert rss_kib(server.process.pid) - rss_before < 32 * 1024
    finally:
        stalled.close()
    assert "dropping a client that stopped reading" in server.log()

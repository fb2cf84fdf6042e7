"""A client that stops reading: its buffer is bounded and conflated, the others lose nothing.

Metric cards conflate (a lagging client is owed only each card's latest value), so a stalled
client of card updates stays connected and catches up with the latest values. Activity items
are never conflated, so a stalled client of a flood of them passes its buffer and is dropped;
it would resume from its `Last-Event-ID`.
"""

from __future__ import annotations

import re
import socket
import time

import anyio
import httpx
import pytest

from tests.integration.helpers import HTML_STREAM, health, open_stream, post_activity, post_metrics
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

BUFFER = 65536
SERVER_ENV = {"LIVEDASH_CLIENT_BUFFER_BYTES": str(BUFFER)}
BATCHES = 12
POINTS = 1000  # one batch is ~0.6 MB of HTML frames: kernel buffers fill after a few
CARDS = 50


def stalled_stream(port: int) -> socket.socket:
    """Open the HTML stream with a tiny receive window and never read from it (until asked)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {HTML_STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def read_until_quiet(sock: socket.socket, quiet: float = 1.0, limit: float = 20.0) -> bytes:
    """Everything the server sends until it has been silent for `quiet` seconds."""
    sock.settimeout(quiet)
    data = bytearray()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def dechunk(raw: bytes) -> str:
    """The body of a chunked HTTP/1.1 response (head stripped), as text."""
    body = raw.split(b"\r\n\r\n", 1)[1]
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out.decode()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_stalled_client_of_cards_is_conflated_and_catches_up_with_the_latest_values(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    assert server.process is not None
    names = [f"conflate_{i}" for i in range(CARDS)]
    await post_metrics(client, [{"name": name, "value": -1} for name in names])  # the cards exist
    stalled = stalled_stream(server.port)
    try:
        async with open_stream(client, HTML_STREAM) as reader:
            await reader.next_event()  # the snapshot
            with anyio.fail_after(5):
                while (await health(client))["streams"] < 2:
                    await anyio.sleep(0.02)
            rss_before = rss_kib(server.process.pid)
            received: list[str | None] = []
            for batch in range(BATCHES):
                points = [{"name": names[i % CARDS], "value": batch * POINTS + i} for i in range(POINTS)]
                await post_metrics(client, points)
                received += [event.id for event in await reader.take(POINTS, timeout=20)]
            assert len(received) == len(set(received)) == BATCHES * POINTS  # the reading client: all
            assert (await health(client))["streams"] == 2  # the stalled one was not dropped
            assert rss_kib(server.process.pid) - rss_before < 32 * 1024
            raw = await anyio.to_thread.run_sync(read_until_quiet, stalled)
    finally:
        stalled.close()
    text = dechunk(raw)
    last = {
        name: int(value)
        for name, value in re.findall(r'event: metric-(conflate_\d+)\n.*?data-value="(-?\d+)"', text, re.S)
    }
    expected = {names[i % CARDS]: (BATCHES - 1) * POINTS + i for i in range(POINTS - CARDS, POINTS)}
    assert last == expected  # every card ends on its latest value
    delivered = text.count("event: metric-conflate_")
    assert delivered < BATCHES * POINTS / 2, "the backlog was conflated, not replayed in full"
    ids = [int(i.rsplit("-", 1)[1]) for i in re.findall(r"^id: (\S+)$", text, re.M)]
    assert ids == sorted(ids), "conflation keeps ids in order on the wire"


async def test_stalled_client_of_activity_is_dropped_and_the_others_get_everything(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    stalled = stalled_stream(server.port)
    try:
        async with open_stream(client, HTML_STREAM) as reader:
            await reader.next_event()  # the snapshot
            with anyio.fail_after(5):
                while (await health(client))["streams"] < 2:
                    await anyio.sleep(0.02)
            sent: list[str] = []
            received: list[str | None] = []
            message = "x" * 400
            with anyio.fail_after(60):
                while (await health(client))["streams"] > 1:
                    for _ in range(100):
                        sent.append(await post_activity(client, message))
                    received += [event.id for event in await reader.take(100, timeout=20)]
            assert received == sent  # the reading client got every item, in order
    finally:
        stalled.close()
    log = server.log()
    assert "dropping a client that stopped reading" in log
    assert "without completing response" not in log  # dropped as a lost connection, not an error

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


def read_until(sock: socket.socket, event_id: str, limit: float = 20.0) -> str:
    """The stream's text up to and including the frame with this id (the last one it was sent)."""
    sock.settimeout(limit)
    data = bytearray()
    deadline = time.monotonic() + limit
    while (text := dechunk(bytes(data))).find(f"id: {event_id}\n") < 0:
        assert time.monotonic() < deadline, f"no event {event_id} within {limit} s"
        chunk = sock.recv(65536)
        assert chunk, "the server closed the stream before the last event"
        data += chunk
    return text


def dechunk(raw: bytes) -> str:
    """The body of a chunked HTTP/1.1 response (head stripped) so far, as text."""
    _head, _, body = raw.partition(b"\r\n\r\n")
    out = bytearray()
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep or int(size_line, 16) == 0:
            break
        size = int(size_line, 16)
        out += rest[:size]
        body = rest[size + 2 :]
    return out.decode(errors="replace")  # the last chunk may still be cut in a character


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
            # Owed after every card update: what the stalled client reads up to it is all it gets.
            marker = await post_activity(client, "after the last batch")
            text = await anyio.to_thread.run_sync(read_until, stalled, marker)
    finally:
        stalled.close()
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

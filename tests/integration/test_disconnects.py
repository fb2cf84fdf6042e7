"""Clients that vanish are forgotten at once: stream count, sockets, threads and memory return."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from tests.integration.helpers import HTML_STREAM, JSON_STREAM, health, post_metric, unique
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

CLIENTS = 200
ROUNDS = 2


def proc_stats(pid: int) -> tuple[int, int, int]:
    """(open fds, threads, RSS in kB) of a process, from /proc."""
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return fds, int(status["Threads"]), int(status["VmRSS"].split()[0])


async def open_raw_stream(port: int, path: str) -> SocketStream:
    """A bare HTTP/1.1 GET of a stream, read until the preamble's `retry:` arrived."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    try:
        await stream.send(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        received = b""
        while b"retry:" not in received:
            received += await stream.receive()
        assert received.startswith(b"HTTP/1.1 200"), received[:100]
    except BaseException:
        await stream.aclose()
        raise
    return stream


async def close_abruptly(streams: list[SocketStream]) -> None:
    """Half of them reset (RST, SO_LINGER 0), the other half just closed (FIN), mid-stream."""
    for index, stream in enumerate(streams):
        if index % 2 == 0:
            raw = stream.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()


async def open_many(port: int, count: int) -> list[SocketStream]:
    """`count` concurrent streams, half of each kind; all closed again if any fails to open."""
    streams: list[SocketStream] = []

    async def connect(index: int) -> None:
        streams.append(await open_raw_stream(port, HTML_STREAM if index % 2 else JSON_STREAM))

    try:
        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                for index in range(count):
                    group.start_soon(connect, index)
    except BaseException:
        await close_abruptly(streams)
        raise
    return streams


async def test_two_hundred_clients_come_and_go(server: LiveServer) -> None:
    assert server.process is not None
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        assert (await health(client))["streams"] == 0
        base_fds, base_threads, base_rss = proc_stats(pid)

        for _ in range(ROUNDS):
            streams = await open_many(server.port, CLIENTS)
            try:
                assert (await health(client))["streams"] == CLIENTS
                # Events still fan out to all of them.
                await post_metric(client, unique("fanout"), 1)
            finally:
                await close_abruptly(streams)

            closed_at = time.monotonic()
            streams_left = -1
            while time.monotonic() - closed_at < 1.0:
                streams_left = (await health(client))["streams"]
                if streams_left == 0:
                    break
                await anyio.sleep(0.02)
            assert streams_left == 0, f"{streams_left} streams still counted 1 s after their clients left"

        # Sockets are released too (give the event loop a moment for the last closes).
        deadline = time.monotonic() + 2.0
        fds, threads, rss = proc_stats(pid)
        while fds > base_fds + 2 and time.monotonic() < deadline:
            await anyio.sleep(0.02)
            fds, threads, rss = proc_stats(pid)
    assert fds <= base_fds + 2, (base_fds, fds)
    assert threads <= base_threads + 1, (base_threads, threads)
    assert rss - base_rss < 32 * 1024, f"RSS grew from {base_rss} kB to {rss} kB"

"""Clients that vanish are forgotten at once: stream count, sockets, threads and memory return."""

from __future__ import annotations

import codecs
import socket
import struct
import time
from collections import deque
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from tests.integration.helpers import HTML_NEW_METRIC, HTML_STREAM, JSON_STREAM, health, post_metric, unique
from tests.support.server import LiveServer
from tests.support.sse_client import Event, Parser

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


class RawStream:
    """A stream read over a bare socket: the chunked body decoded, its events parsed."""

    def __init__(self, socket: SocketStream, path: str, received: bytes) -> None:
        self.socket = socket
        self.path = path
        _head, _, self._body = received.partition(b"\r\n\r\n")
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._parser = Parser()
        self._ready: deque[Event] = deque()
        self._decode()

    def _decode(self) -> None:
        while True:
            size_line, sep, rest = self._body.partition(b"\r\n")
            if not sep or len(rest) < int(size_line, 16) + 2:
                return
            size = int(size_line, 16)
            self._ready.extend(self._parser.feed(self._text.decode(rest[:size])))
            self._body = rest[size + 2 :]

    async def next_event(self) -> Event:
        """The next event, heartbeats included."""
        while not self._ready:
            self._body += await self.socket.receive()
            self._decode()
        return self._ready.popleft()

    async def events_until(self, event_id: str) -> list[Event]:
        """Every event but heartbeats, up to and including the one with this id."""
        events: list[Event] = []
        while not events or events[-1].id != event_id:
            event = await self.next_event()
            if event.event != "heartbeat":
                events.append(event)
        return events


async def open_raw_stream(port: int, path: str) -> RawStream:
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
    return RawStream(stream, path, received)


async def close_abruptly(streams: list[RawStream]) -> None:
    """Half of them reset (RST, SO_LINGER 0), the other half just closed (FIN), mid-stream."""
    for index, stream in enumerate(streams):
        if index % 2 == 0:
            raw = stream.socket.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.socket.aclose()


async def open_many(port: int, count: int) -> list[RawStream]:
    """`count` concurrent streams, half of each kind; all closed again if any fails to open."""
    streams: list[RawStream] = []

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


async def fan_out_one_event(client: httpx.AsyncClient, streams: list[RawStream]) -> None:
    """Post one reading of a new metric: every stream gets its snapshot, then exactly that event."""
    before = (await health(client))["last_id"]
    metric = unique("fanout")
    event_id = await post_metric(client, metric, 1)
    received: dict[int, list[Event]] = {}

    async def read(index: int, stream: RawStream) -> None:
        received[index] = await stream.events_until(event_id)

    with anyio.fail_after(15):
        async with anyio.create_task_group() as group:
            for index, stream in enumerate(streams):
                group.start_soon(read, index, stream)
    names = {JSON_STREAM: "metric-update", HTML_STREAM: HTML_NEW_METRIC}
    got = [[(event.event, event.id) for event in received[index]] for index in range(len(streams))]
    assert got == [[("snapshot", before), (names[stream.path], event_id)] for stream in streams]
    assert [metric in events[-1].data for events in received.values()] == [True] * len(streams)


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
                # Events still fan out to all of them, after the earlier round's clients vanished.
                await fan_out_one_event(client, streams)
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

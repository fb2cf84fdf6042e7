"""The load client: thousands of SSE streams in one process, one Protocol class, no task each.

A coroutine or a parser object per connection would make the client, not the server, the
bottleneck at 100,000 frames a second. So every stream is one `Stream` (slots only) whose
`data_received` does the least that still proves delivery: strip the chunked framing, cut
complete SSE frames, and for each metric event pull the number out of `data-value="..."`
with `bytes.find`. The value is the publish sequence number, which is enough to check that
every client got every event exactly once and in order, and to time it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from time import monotonic as _monotonic
from typing import cast

from bench.control import BURST_PREFIX

_EVENT = b"event: "
_VALUE = b'data-value="'
_CARD = b'<article id="metric-'
_BURST = BURST_PREFIX.encode()
_M, _N = ord("m"), ord("n")  # metric-<name>, new-metric (or new-alert)
_SMALL_RCVBUF = 4096

Log = tuple["array[float]", "array[int]"]


class Stream(asyncio.Protocol):
    """One SSE connection and what it received in the current phase.

    `expected` is the next sequence number due. A lower one is `extra` (a duplicate or out
    of order); a higher one means the ones between were skipped (lost, or conflated away for
    a tracked client). Tracked clients also keep the latest value of each card they saw.
    """

    __slots__ = (
        "burst_extra",
        "burst_next",
        "burst_skipped",
        "cards",
        "chunked",
        "closed",
        "ended",
        "expected",
        "extra",
        "got",
        "heartbeats",
        "left",
        "log",
        "malformed",
        "plain",
        "raw",
        "regressions",
        "request",
        "server",
        "skipped",
        "small_rcvbuf",
        "snapshots",
        "sse",
        "status",
        "tail",
        "tail_end",
        "tracked",
        "transport",
    )

    def __init__(self, server: int, path: str, host: str, last_id: str | None, small_rcvbuf: bool) -> None:
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        ).encode()
        self.server = server
        self.small_rcvbuf = small_rcvbuf
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.chunked = False
        self.plain = False  # chunked, and nothing half-read: the next read may start a chunk
        self.raw = b""  # bytes of the head or of a chunk-size line not complete yet
        self.left = 0  # bytes of the current chunk still to come, its closing CRLF included
        self.sse = b""  # the start of an SSE frame not complete yet
        self.tail = b""  # the bytes that held the last complete frame (for its id)
        self.tail_end = 0
        self.ended = False  # the server ended the response (the final chunk)
        self.closed = False  # the connection is gone
        self.snapshots = 0
        self.malformed = 0
        self.expect(0)

    def expect(self, base: int, log: Log | None = None, tracked: bool = False) -> None:
        """Start a phase: sequence `base` is due next; record receive times into `log`."""
        self.expected = base
        self.got = 0
        self.skipped = 0
        self.extra = 0
        self.regressions = 0
        self.heartbeats = 0
        self.log = log
        self.tracked = tracked
        self.cards: dict[bytes, int] = {}
        self.burst_next = 0  # the burst's activity items, which are never conflated
        self.burst_skipped = 0
        self.burst_extra = 0

    @property
    def last_id(self) -> str:
        """The id of the last complete event read (found only when asked: it is rarely needed)."""
        data, end = self.tail, self.tail_end
        k = data.rfind(b"\nid: ", 0, end)
        return data[k + 5 : data.find(b"\n", k + 5)].decode() if k >= 0 else ""

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = _monotonic()
        # The common case: a read is exactly one chunk, the one write of one or more frames.
        # Read the frames where they lie, without copying.
        if self.plain and data.endswith(b"\n\n\r\n"):
            nl = data.find(b"\r\n", 0, 12)
            if nl > 0:
                try:
                    size = int(data[:nl], 16)
                except ValueError:
                    size = -1
                if size + nl + 4 == len(data):
                    self._frames(data, nl + 2, len(data) - 2, now)
                    return
        self._general(data, now)

    def eof_received(self) -> bool | None:
        self.closed = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    # --- parsing -------------------------------------------------------------------------

    def _general(self, data: bytes, now: float) -> None:
        """Any other split: the head, chunks cut across reads, several chunks in one read."""
        if self.ended:
            return  # the last chunk's trailer
        if not self.status:
            data = self._head(data)
        if self.chunked and data:
            data = self._unchunk(data)
        if self.sse:
            data = self.sse + data
        end = data.rfind(b"\n\n") + 2
        if end == 1:
            self.sse = data
        else:
            self.sse = data[end:]
            self._frames(data, 0, end, now)
        self.plain = self.chunked and not (self.raw or self.left or self.sse)

    def _head(self, data: bytes) -> bytes:
        data = self.raw + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.raw = data
            return b""
        self.raw = b""
        head = data[:end].lower()
        try:
            self.status = int(head[9:12])
        except ValueError:
            self.status = -1
        if self.status != 200:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return b""
        self.chunked = b"\r\ntransfer-encoding: chunked" in head
        return data[end + 4 :]

    def _unchunk(self, data: bytes) -> bytes:
        if self.raw:
            data = self.raw + data
            self.raw = b""
        parts: list[bytes] = []
        pos, size = 0, len(data)
        while pos < size:
            left = self.left
            if left:
                take = min(left, size - pos)
                body = min(take, left - 2)  # the chunk's data, without its closing CRLF
                if body > 0:
                    parts.append(data[pos : pos + body])
                self.left = left - take
                pos += take
                continue
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                self.raw = data[pos:]
                break
            length = int(data[pos:line_end].split(b";", 1)[0], 16)
            pos = line_end + 2
            if length == 0:
                self.ended = True
                break
            self.left = length + 2
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _frames(self, data: bytes, start: int, end: int, now: float) -> None:
        """Account for every event in data[start:end], which holds complete frames only."""
        find = data.find
        i = find(_EVENT, start, end)
        while i >= 0:
            i += 7
            first = data[i]  # dispatch on the event name's first byte: one bytes op fewer
            if first == _M or (first == _N and data.startswith(b"new-metric", i)):
                k = find(_VALUE, i) + 12
                quote = find(b'"', k)
                try:
                    value = int(data[k:quote])
                except ValueError:
                    self.malformed += 1
                else:
                    expected = self.expected
                    if value == expected:
                        self.got += 1
                        self.expected = value + 1
                    elif value > expected:
                        self.got += 1
                        self.skipped += value - expected
                        self.expected = value + 1
                    else:
                        self.extra += 1
                    log = self.log
                    if log is not None:
                        log[0].append(now)
                        log[1].append(value)
                    if self.tracked:
                        j = find(b"\n", i)
                        self._card(_card_name(data, j) if first == _N else data[i + 7 : j], value)
                i = find(_EVENT, quote, end)
                continue
            j = find(b"\n", i)
            if data.startswith(b"heartbeat", i):
                self.heartbeats += 1
            elif data.startswith(b"activity", i):
                if self.tracked:
                    self._activity(data, j)
            elif data.startswith(b"snapshot", i):
                self.snapshots += 1
                if self.tracked:
                    self._snapshot(data, j, find(b"\n\n", j))
            i = find(_EVENT, j, end)
        self.tail = data
        self.tail_end = end

    def _card(self, name: bytes, value: int) -> None:
        before = self.cards.get(name)
        if before is not None and value < before:
            self.regressions += 1
        self.cards[name] = value

    def _activity(self, data: bytes, start: int) -> None:
        k = data.find(_BURST, start, data.find(b"\n\n", start))
        if k < 0:
            return  # not one of the burst's items
        k += len(_BURST)
        number = int(data[k : k + 6])
        if number == self.burst_next:
            self.burst_next += 1
        elif number > self.burst_next:
            self.burst_skipped += number - self.burst_next
            self.burst_next = number + 1
        else:
            self.burst_extra += 1

    def _snapshot(self, data: bytes, start: int, end: int) -> None:
        i = data.find(_CARD, start, end)
        while i >= 0:
            name = _card_name(data, i)
            k = data.find(_VALUE, i) + 12
            try:
                self._card(name, int(data[k : data.find(b'"', k)]))
            except ValueError:
                self.malformed += 1
            i = data.find(_CARD, k, end)

    # --- state, for the phases -----------------------------------------------------------

    @property
    def ready(self) -> bool:
        """A first complete frame arrived: the server has subscribed this client."""
        return self.tail_end > 0

    @property
    def gone(self) -> bool:
        """The server ended this stream, or the connection is closed."""
        return self.closed or self.ended

    def has_latest(self, latest: dict[bytes, int]) -> bool:
        """True when every card this client tracks shows the latest published value."""
        cards = self.cards
        return all(cards.get(name) == value for name, value in latest.items())

    def settled(self, latest: dict[bytes, int], burst: int) -> bool:
        """Owed nothing: the latest value of every card and each of `burst` items, once, in order."""
        return self.has_latest(latest) and self.burst_next == burst and not self.burst_skipped

    def pause(self) -> None:
        """Stop reading: the socket's small receive buffer fills and the server must hold on."""
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _answered(streams: Sequence[Stream]) -> Callable[[], bool]:
    return lambda: all(s.status or s.closed for s in streams)


def _card_name(data: bytes, start: int) -> bytes:
    """The metric name of the first card after `start`: `<article id="metric-NAME"`."""
    i = data.find(_CARD, start) + len(_CARD)
    return data[i : data.find(b'"', i)]


class Fleet:
    """All the streams of one server (or of a set of servers sharing a hub)."""

    def __init__(self, ports: Sequence[int], path: str) -> None:
        self.ports = list(ports)
        self.path = path
        self.streams: list[Stream] = []
        self.logs: list[Log] = []
        self.refused = 0

    def new_stream(self, index: int, last_id: str | None = None, small_rcvbuf: bool = False) -> Stream:
        server = index % len(self.ports)
        return Stream(server, self.path, f"127.0.0.1:{self.ports[server]}", last_id, small_rcvbuf)

    def reopen(self, old: Stream) -> Stream:
        """A new connection for a stream the server dropped, resuming from the last id it saw.

        It keeps what the old one had (next sequence due, card values), as a browser does.
        """
        server = old.server
        stream = Stream(server, self.path, f"127.0.0.1:{self.ports[server]}", old.last_id or None, False)
        stream.expect(old.expected, None, tracked=True)
        stream.cards = dict(old.cards)
        stream.burst_next, stream.burst_skipped = old.burst_next, old.burst_skipped
        stream.burst_extra, stream.regressions = old.burst_extra, old.regressions
        return stream

    async def open(self, streams: Sequence[Stream], batch: int = 500, timeout: float = 60.0) -> None:
        """Connect `streams` a batch at a time, each batch once its heads have arrived.

        Pacing by the server's answers keeps the listen backlog (somaxconn) from
        overflowing, which would cost dropped SYNs and one-second retransmits.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        for start in range(0, len(streams), batch):
            group = streams[start : start + batch]
            outcomes = await asyncio.gather(*(self._connect(loop, s) for s in group), return_exceptions=True)
            self.refused += sum(1 for outcome in outcomes if isinstance(outcome, BaseException))
            await until(_answered(group), deadline)

    async def _connect(self, loop: asyncio.AbstractEventLoop, stream: Stream) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if stream.small_rcvbuf:  # before connect, so the advertised window is small too
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SMALL_RCVBUF)
            await loop.sock_connect(sock, ("127.0.0.1", self.ports[stream.server]))
            await loop.create_connection(lambda: stream, sock=sock)
        except BaseException:
            stream.closed = True
            sock.close()
            raise

    def begin(self, base: int, tracked: Iterable[Stream] = ()) -> None:
        """Start a phase: every stream expects sequence `base`; untracked ones are timed."""
        tracked_ids = {id(s) for s in tracked}
        self.logs = [(array("d"), array("q")) for _ in self.ports]
        for stream in self.streams:
            is_tracked = id(stream) in tracked_ids
            stream.expect(base, None if is_tracked else self.logs[stream.server], is_tracked)

    def latencies(self, sent_at: Sequence[float], base: int, server: int | None = None) -> list[float]:
        """Receive minus publish time of every timed delivery (of one server, if given)."""
        out: list[float] = []
        count = len(sent_at)
        for index, (times, seqs) in enumerate(self.logs):
            if server is not None and index != server:
                continue
            for at, seq in zip(times, seqs, strict=True):
                k = seq - base
                if 0 <= k < count:
                    out.append(at - sent_at[k])
        return out

    def last_receive(self) -> float:
        """When the last timed frame of the phase was read (monotonic; 0 if none)."""
        return max((max(times) for times, _seqs in self.logs if times), default=0.0)

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


async def until(done: Callable[[], bool], deadline: float, every: float = 0.05) -> bool:
    """Poll `done` until it holds or the (monotonic) deadline passes; whether it held."""
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)
    return True

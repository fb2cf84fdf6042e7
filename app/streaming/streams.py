"""The open streams of one process: the replay window, one channel per format, the openings.

A connecting client gets, in one write, the preamble and either what it missed (catch-up)
or the current state as one `snapshot` event, then every broadcast. Everything here is
encoded once and shared: the snapshot once per state version, each event once for all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

from app.domain.events import Entry
from app.domain.state import DashboardState
from app.streaming import sse
from app.streaming.catchup import EventLog, catch_up
from app.streaming.fanout import Batch, Channel, Closed, Send, Subscriber
from app.streaming.frames import FrameEncoder
from app.streaming.replay import ReplayRing

log = logging.getLogger("livedash.streams")


class StreamFormat(StrEnum):
    """The two encodings of the same events."""

    html = "html"
    json = "json"


class Opening(StrEnum):
    """What a new stream was sent first."""

    snapshot = "snapshot"
    """No id: the current state."""
    resumed = "resumed"
    """Exactly what it missed since its id."""
    resync = "resync"
    """An id neither the window nor the hub could serve: the current state instead."""


def frames_of(entries: Sequence[Entry], fmt: StreamFormat) -> Batch:
    """The frames of `entries` for one format, keyed for conflation, as one broadcast."""
    if fmt is StreamFormat.html:
        return Batch([(entry.key, entry.html) for entry in entries])
    return Batch([(entry.key, entry.json) for entry in entries])


class Streams:
    """Subscribers by format, the replay window they resume from, and what they open with."""

    def __init__(
        self,
        state: DashboardState,
        frames: FrameEncoder,
        log: EventLog,
        *,
        window: int,
        client_buffer: int,
        retry_ms: int,
        flush_hz: float = 0.0,
        build: str = "",
    ) -> None:
        self.state = state
        self.frames = frames
        self.log = log
        self.ring = ReplayRing(window, "")
        self.channels = {fmt: Channel(flush_hz) for fmt in StreamFormat}
        self.client_buffer = client_buffer
        self.closing = False
        self._preamble = sse.preamble(retry_ms)
        self.build = build
        """The running build's id; a page rendered by another one is told so when it connects."""
        self._new_build = sse.frame(build, event="build") if build else b""
        self._snapshot: Entry | None = None
        self._openings: dict[StreamFormat, tuple[str, Batch]] = {}
        self.write_path: str | None = None
        """`direct` or `asgi`, once a stream has shown which one this server gives."""
        self.openings = dict.fromkeys(Opening, 0)
        """Streams opened, by what they were sent first."""

    def __len__(self) -> int:
        return sum(len(channel) for channel in self.channels.values())

    def restore(self, entries: Sequence[Entry], origin: str) -> None:
        """Start the window from what the hub kept (`origin` is the id just before them)."""
        self.ring = ReplayRing(self.ring.size, origin)
        for entry in entries:
            self.ring.append(entry)

    def publish(self, entries: Sequence[Entry]) -> None:
        """Keep `entries` for resumes and hand their bytes to every subscriber."""
        for entry in entries:
            self.ring.append(entry)
        if entries:
            for fmt, channel in self.channels.items():
                if len(channel):
                    channel.broadcast(frames_of(entries, fmt))

    def broadcast(self, entry: Entry) -> None:
        """Send one entry that is not kept for resumes (a heartbeat) to every stream."""
        for fmt, channel in self.channels.items():
            channel.broadcast(Batch.of(entry.html if fmt is StreamFormat.html else entry.json))

    async def subscribe(
        self, fmt: StreamFormat, send: Send, last_id: str | None, build: str | None = None
    ) -> Subscriber:
        """Open a subscription that first receives what it missed since `last_id`.

        A page says which build rendered it (`build`); when that is not the running one (a
        deploy happened since), its stream opens with a `build` event naming the new one, and
        the page reloads itself. Clients that do not say (programs, curl) never get one.

        No await between looking up the catch-up in the window and joining the channel, so
        no event can fall between them (only the hub's log, for older ids, is awaited first).
        """
        subscriber = Subscriber(send, self.client_buffer)
        self._log_write_path(subscriber)
        if self.closing:
            subscriber.close(Closed.shutdown)
            return subscriber
        missed = await catch_up(
            last_id,
            self.ring,
            self.log,
            lambda: self.state.version,
            self.frames.encode,
            subscriber.closed.done,
        )
        if self.closing:  # shutdown began while catch-up waited on the hub
            subscriber.close(Closed.shutdown)
        if subscriber.closed.done():
            return subscriber
        stale_page = build is not None and self.build and build != self.build
        new_build = self._new_build if stale_page else b""
        if missed is None:
            self.openings[Opening.resync if last_id else Opening.snapshot] += 1
            opening = self._opening(fmt)
            subscriber.push(Batch([(None, new_build), *opening.parts]) if new_build else opening)
        else:
            self.openings[Opening.resumed] += 1
            batch = frames_of(missed, fmt)
            subscriber.push(Batch([(None, self._preamble + new_build), *batch.parts]))
        self.channels[fmt].add(subscriber)
        return subscriber

    def signal(self, event: str) -> None:
        """Send a named event with no state behind it to every page stream (dev-mode reloads)."""
        self.channels[StreamFormat.html].broadcast(Batch.of(sse.frame("", event=event)))

    def snapshot(self) -> Entry:
        """The current state as one event, encoded once per version."""
        if self._snapshot is None or self._snapshot.id != self.state.version:
            self._snapshot = self.frames.snapshot(self.state)
        return self._snapshot

    def _opening(self, fmt: StreamFormat) -> Batch:
        """Preamble and snapshot, framed once per state version for every client that needs it."""
        snapshot = self.snapshot()
        cached = self._openings.get(fmt)
        if cached is None or cached[0] != snapshot.id:
            frame = snapshot.html if fmt is StreamFormat.html else snapshot.json
            cached = self._openings[fmt] = (snapshot.id, Batch.of(self._preamble + frame))
        return cached[1]

    def close_all(self) -> None:
        """End every open stream (SIGTERM): browsers reconnect elsewhere with their last id."""
        self.closing = True
        for channel in self.channels.values():
            channel.close_all(Closed.shutdown)

    def _log_write_path(self, subscriber: Subscriber) -> None:
        # Once per process: the direct path rests on uvicorn internals (see app/streaming/wire.py).
        if self.write_path is None:
            self.write_path = "direct" if subscriber.direct else "asgi"
            path = "direct to uvicorn's transport" if subscriber.direct else "through ASGI send"
            log.info("streams write %s", path)

"""The dashboard service: ingest -> hub -> state -> render once -> fan out. No web framework here.

`publish` runs without awaiting, so on the one event loop a fact is folded into the state,
given its id, encoded and handed to every subscriber before anything else can look: a page
rendered at version V and a stream resumed from V never miss or repeat an event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from enum import StrEnum

from app import sse
from app.fanout import Channel, Closed, Receive, Send, Subscriber
from app.frames import Entry, FrameEncoder
from app.hub import Backend, MemoryBackend
from app.model import (
    ActivityAdded,
    ActivityIn,
    AlertIn,
    AlertRaised,
    AlertResolved,
    Fact,
    MetricPoint,
    MetricUpdated,
)
from app.render import Renderer
from app.settings import Settings
from app.state import DashboardState


class StreamFormat(StrEnum):
    """The two encodings of the same events."""

    html = "html"
    json = "json"


class UnknownAlert(LookupError):
    """DELETE named an alert that is not open."""


class LimitReached(ValueError):
    """A new card or banner would pass `max_metrics` / `max_alerts`; nothing was applied."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Dashboard:
    """Owns the state, the event log and the subscribers of one process."""

    def __init__(
        self,
        settings: Settings,
        renderer: Renderer,
        log: Backend[Entry] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.state = DashboardState(settings.feed_size)
        self.log: Backend[Entry] = log or MemoryBackend(settings.replay_window)
        self.state.version = self.log.last_id
        self.frames = FrameEncoder(renderer)
        self.channels = {fmt: Channel(fmt.value) for fmt in StreamFormat}
        self.clock = clock
        self._preamble = sse.preamble(settings.retry_ms)
        self._snapshot: Entry | None = None
        self.closing = False

    # --- ingest ------------------------------------------------------------------------

    def publish(self, facts: Sequence[Fact]) -> list[str]:
        """Apply, record, encode and broadcast `facts` in order; returns their ids."""
        entries = [self._record(fact) for fact in facts]
        if entries:
            for fmt, channel in self.channels.items():
                if len(channel):
                    channel.broadcast(b"".join(getattr(entry, fmt.value) for entry in entries))
        return [entry.id for entry in entries]

    def _record(self, fact: Fact) -> Entry:
        created = self.state.apply(fact)
        entry = self.log.add(lambda event_id: self.frames.encode(event_id, fact, created, self.state))
        self.state.version = entry.id
        return entry

    def add_metrics(self, points: Sequence[MetricPoint]) -> list[str]:
        """Record a batch of readings; a point without `ts` is stamped now."""
        new = {p.name for p in points} - self.state.metrics.keys()
        if new and len(self.state.metrics) + len(new) > self.settings.max_metrics:
            raise LimitReached(
                "name",
                f"at most {self.settings.max_metrics} metrics (LIVEDASH_MAX_METRICS);"
                f" {len(new)} new name(s) in this batch, e.g. {min(new)!r}",
            )
        now = self.clock()
        return self.publish(
            [MetricUpdated(p.name, float(p.value), now if p.ts is None else p.ts) for p in points]
        )

    def add_activity(self, item: ActivityIn) -> str:
        """Record one feed line."""
        fact = ActivityAdded(uuid.uuid4().hex[:12], item.message, item.actor, item.level, self.clock())
        return self.publish([fact])[0]

    def raise_alert(self, alert: AlertIn) -> str:
        """Open an alert, or replace the open one with the same id."""
        alerts = self.state.alerts
        if alert.id not in alerts and len(alerts) >= self.settings.max_alerts:
            raise LimitReached(
                "id",
                f"at most {self.settings.max_alerts} open alerts (LIVEDASH_MAX_ALERTS); resolve some first",
            )
        fact = AlertRaised(alert.id, alert.severity, alert.title, alert.message, self.clock())
        return self.publish([fact])[0]

    def resolve_alert(self, alert_id: str) -> str:
        """Close an open alert; `UnknownAlert` if there is none by that id."""
        if alert_id not in self.state.alerts:
            raise UnknownAlert(alert_id)
        return self.publish([AlertResolved(alert_id, self.clock())])[0]

    # --- streams -----------------------------------------------------------------------

    def subscribe(self, fmt: StreamFormat, send: Send, receive: Receive, last_id: str | None) -> Subscriber:
        """Open a subscription that first receives what it missed since `last_id`.

        Missed events come from the replay window; without an id, or with one the window
        does not hold, the client gets a snapshot of the current state instead.
        """
        subscriber = Subscriber(send, receive, self.settings.client_buffer_bytes)
        if self.closing:
            subscriber.close(Closed.shutdown)
            return subscriber
        missed = self.log.since(last_id) if last_id else None
        if missed is None:
            catch_up = getattr(self.snapshot(), fmt.value)
        else:
            catch_up = b"".join(getattr(entry, fmt.value) for entry in missed)
        subscriber.push(self._preamble + catch_up)
        self.channels[fmt].add(subscriber)
        return subscriber

    def snapshot(self) -> Entry:
        """The current state as one event, encoded once per version."""
        if self._snapshot is None or self._snapshot.id != self.state.version:
            self._snapshot = self.frames.snapshot(self.state)
        return self._snapshot

    def heartbeat(self) -> None:
        """Tell every stream the line is alive (proxies drop silent connections)."""
        entry = self.frames.heartbeat(self.state.version, self.clock())
        for fmt, channel in self.channels.items():
            channel.broadcast(getattr(entry, fmt.value))

    async def run_heartbeats(self) -> None:
        """Send a heartbeat every `heartbeat_seconds` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            self.heartbeat()

    def close_streams(self) -> None:
        """End every open stream (SIGTERM): browsers reconnect elsewhere with their last id."""
        self.closing = True
        for channel in self.channels.values():
            channel.close_all(Closed.shutdown)

    @property
    def subscriber_count(self) -> int:
        """Open streams in this process."""
        return sum(len(channel) for channel in self.channels.values())

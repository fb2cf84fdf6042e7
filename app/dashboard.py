"""The dashboard service: ingest -> throttle -> hub -> state -> render once -> fan out.

No web framework here. The hub commits events and gives each its id; `deliver` then runs
without awaiting, so on the one event loop an event is folded into the state, encoded and
handed to every subscriber before anything else can look: a page rendered at version V and a
stream resumed from V never miss or repeat an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from enum import StrEnum

from app import sse
from app.fanout import Batch, Channel, Closed, Part, Receive, Send, Subscriber
from app.frames import Entry, FrameEncoder
from app.hub import EmbeddedHub, Hub, HubUnavailable, Past, Record
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
from app.replay import ReplayRing, parse_id
from app.settings import Settings
from app.state import DashboardState, MetricValue, StateData
from app.throttle import CardThrottle

log = logging.getLogger("livedash")


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
    """Owns the state, the replay window, the throttle and the subscribers of one process."""

    def __init__(
        self,
        settings: Settings,
        renderer: Renderer,
        hub: Hub | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.hub: Hub = hub or EmbeddedHub()
        self.state = DashboardState(settings.feed_size)
        self.ring = ReplayRing(settings.replay_window, "")
        self.frames = FrameEncoder(renderer)
        self.channels = {fmt: Channel(fmt.value) for fmt in StreamFormat}
        self.throttle = CardThrottle(settings.card_rate)
        self.clock = clock
        self.monotonic = monotonic
        self.producer = False
        """This process runs the once-per-deployment producers (the demo source)."""
        self._held = asyncio.Event()
        # For each held point, the card's value when it was accepted: if another process
        # publishes the card meanwhile (Redis), the held point is older than that and is dropped.
        self._held_basis: dict[str, MetricValue | None] = {}
        self._preamble = sse.preamble(settings.retry_ms)
        self._snapshot: Entry | None = None
        self._openings: dict[StreamFormat, tuple[str, Batch]] = {}
        self.closing = False

    async def start(self) -> None:
        """Load the stored state and replay window from the hub."""
        await self.hub.start(self)

    # --- the hub's side (Sink) -------------------------------------------------------

    def restore(self, state: StateData | None, entries: Sequence[Entry], origin: str) -> None:
        """Start from what the backend kept: state at `state.version`, the newest events."""
        self.ring = ReplayRing(self.settings.replay_window, origin)
        for entry in entries:
            self.ring.append(entry)
        if state is not None:
            self.state.restore(state)
        if not self.state.version:
            self.state.version = self.ring.last_id

    def deliver(self, records: Sequence[Record]) -> list[Entry]:
        """Fold committed events into the state, encode each once, fan the bytes out."""
        entries = []
        for event_id, fact in records:
            created = self.state.apply(fact)
            metric = self.state.metrics.get(fact.name) if isinstance(fact, MetricUpdated) else None
            entry = self.frames.encode(event_id, fact, created, metric)
            self.ring.append(entry)
            self.state.version = event_id
            entries.append(entry)
        if entries:
            for fmt, channel in self.channels.items():
                if len(channel):
                    channel.broadcast(Batch(_parts(entries, fmt)))
        return entries

    def state_data(self) -> StateData:
        """The current state as plain data (the SQLite store persists it)."""
        return self.state.to_data()

    # --- ingest ------------------------------------------------------------------------

    async def publish(self, facts: Sequence[Fact]) -> list[str]:
        """Commit `facts` through the hub, in order; returns their ids."""
        if not facts:
            return []
        return await self.hub.append(facts)

    async def add_metrics(self, points: Sequence[MetricPoint]) -> list[str]:
        """Record a batch of readings (a point without `ts` is stamped now).

        Returns the ids of the events published now; points for a card that sent within the
        last `1/card_rate` s wait in the throttle and go out (the newest of them) on its next slot.
        """
        new = {p.name for p in points} - self.state.metrics.keys()
        if new and len(self.state.metrics) + len(new) > self.settings.max_metrics:
            raise LimitReached(
                "name",
                f"at most {self.settings.max_metrics} metrics (LIVEDASH_MAX_METRICS);"
                f" {len(new)} new name(s) in this batch, e.g. {min(new)!r}",
            )
        self.hub.check_accepting()  # before any point is held: a 503 must leave nothing behind
        now = self.clock()
        facts = [MetricUpdated(p.name, float(p.value), now if p.ts is None else p.ts) for p in points]
        before = self.throttle.held(p.name for p in facts)
        basis = {name: self._held_basis.get(name) for name in before}
        admitted = self.throttle.admit(facts, self.monotonic())
        sent = {fact.name for fact in admitted}
        for name in {fact.name for fact in facts} - sent:
            self._held_basis[name] = self.state.metrics.get(name)
        if len(self.throttle):
            self._held.set()
        try:
            return await self.publish(admitted)
        except HubUnavailable:
            self.throttle.forget(facts, before)  # answered 503: none of this request may go out later
            for name in {fact.name for fact in facts} - sent:
                if name in basis:
                    self._held_basis[name] = basis[name]
                else:
                    self._held_basis.pop(name, None)
            raise

    def _still_newest(self, points: list[MetricUpdated]) -> list[MetricUpdated]:
        """Held points whose card nobody else published since they were accepted."""
        fresh = []
        for point in points:
            basis = self._held_basis.pop(point.name, None)
            if self.state.metrics.get(point.name) is basis:
                fresh.append(point)
            else:
                log.debug("held %s superseded by another process's newer value", point.name)
        return fresh

    async def add_activity(self, item: ActivityIn) -> str:
        """Record one feed line."""
        fact = ActivityAdded(uuid.uuid4().hex[:12], item.message, item.actor, item.level, self.clock())
        return (await self.publish([fact]))[0]

    async def raise_alert(self, alert: AlertIn) -> str:
        """Open an alert, or replace the open one with the same id."""
        alerts = self.state.alerts
        if alert.id not in alerts and len(alerts) >= self.settings.max_alerts:
            raise LimitReached(
                "id",
                f"at most {self.settings.max_alerts} open alerts (LIVEDASH_MAX_ALERTS); resolve some first",
            )
        fact = AlertRaised(alert.id, alert.severity, alert.title, alert.message, self.clock())
        return (await self.publish([fact]))[0]

    async def resolve_alert(self, alert_id: str) -> str:
        """Close an open alert; `UnknownAlert` if there is none by that id."""
        if alert_id not in self.state.alerts:
            raise UnknownAlert(alert_id)
        return (await self.publish([AlertResolved(alert_id, self.clock())]))[0]

    async def run_throttle(self) -> None:
        """Send held card updates when their card may send again, until cancelled."""
        while True:
            due_at = self.throttle.next_due()
            if due_at is None:
                self._held.clear()
                await self._held.wait()
                continue
            delay = due_at - self.monotonic()
            if delay > 0:
                self._held.clear()
                with contextlib.suppress(TimeoutError):  # a newly held card may be due sooner
                    await asyncio.wait_for(self._held.wait(), delay)
                continue
            points = self._still_newest(self.throttle.due(self.monotonic()))
            try:
                await self.publish(points)
            except HubUnavailable as exc:
                log.debug("held card updates wait for the hub: %s", exc)
                self._hold_again(points)
                await asyncio.sleep(0.5)

    def _hold_again(self, points: list[MetricUpdated]) -> None:
        for point in points:
            self._held_basis.setdefault(point.name, self.state.metrics.get(point.name))
        self.throttle.hold_again(points)

    async def flush_throttle(self, patience: float = 3.0) -> None:
        """Publish every held card update now (shutdown: the last value always arrives).

        During a Redis outage, retry for `patience` seconds (inside the server's graceful
        shutdown time); what still cannot go out is logged as lost, value by value.
        """
        held = self._still_newest(self.throttle.drain())
        deadline = self.monotonic() + patience
        while held:
            try:
                await self.publish(held)
                return
            except HubUnavailable as exc:
                if self.monotonic() >= deadline:
                    lost = ", ".join(f"{p.name}={p.value!r}" for p in held)
                    log.error("%d held card updates could not be recorded (%s): %s", len(held), exc, lost)
                    return
                await asyncio.sleep(0.25)

    # --- streams -----------------------------------------------------------------------

    async def subscribe(
        self, fmt: StreamFormat, send: Send, receive: Receive | None, last_id: str | None
    ) -> Subscriber:
        """Open a subscription that first receives what it missed since `last_id`.

        Missed events come from the replay window (then from the backend's log, with Redis);
        without an id, or with one neither holds, the client gets a snapshot instead.
        """
        subscriber = Subscriber(send, receive, self.settings.client_buffer_bytes)
        if self.closing:
            subscriber.close(Closed.shutdown)
            return subscriber
        missed = self.ring.since(last_id) if last_id else None
        if missed is None and last_id and _newer(last_id, self.state.version):
            # Seen on another process that is ahead of this one (Redis): let ours catch up,
            # rather than answer with an older snapshot and then repeat what the client has.
            await self.hub.caught_up(last_id)
            missed = None if subscriber.closed.done() else self.ring.since(last_id)
        if missed is None and last_id:
            past = await self.hub.older(last_id)
            if past is not None and not subscriber.closed.done():
                tail = self.ring.since(past[-1].id if past else last_id)
                if tail is not None:
                    missed = [self._encode_past(event) for event in past] + tail
        if subscriber.closed.done():
            return subscriber
        if missed is None:
            subscriber.push(self._opening(fmt))
        else:
            subscriber.push(Batch([(None, self._preamble), *_parts(missed, fmt)]))
        self.channels[fmt].add(subscriber)
        return subscriber

    def _opening(self, fmt: StreamFormat) -> Batch:
        """Preamble and snapshot, framed once per state version for every client that needs it."""
        snapshot = self.snapshot()
        cached = self._openings.get(fmt)
        if cached is None or cached[0] != snapshot.id:
            cached = self._openings[fmt] = (
                snapshot.id,
                Batch([(None, self._preamble + getattr(snapshot, fmt.value))]),
            )
        return cached[1]

    def _encode_past(self, event: Past) -> Entry:
        fact = event.fact
        metric = (
            MetricValue(fact.name, fact.value, fact.ts, event.previous)
            if isinstance(fact, MetricUpdated)
            else None
        )
        return self.frames.encode(event.id, fact, event.created, metric)

    def snapshot(self) -> Entry:
        """The current state as one event, encoded once per version."""
        if self._snapshot is None or self._snapshot.id != self.state.version:
            self._snapshot = self.frames.snapshot(self.state)
        return self._snapshot

    def heartbeat(self) -> None:
        """Tell every stream the line is alive (proxies drop silent connections)."""
        entry = self.frames.heartbeat(self.state.version, self.clock())
        for fmt, channel in self.channels.items():
            channel.broadcast(Batch.of(getattr(entry, fmt.value)))

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


def _newer(event_id: str, than: str) -> bool:
    key, other = parse_id(event_id), parse_id(than)
    return key is not None and other is not None and key > other


def _parts(entries: Sequence[Entry], fmt: StreamFormat) -> list[Part]:
    if fmt is StreamFormat.html:
        return [(entry.key, entry.html) for entry in entries]
    return [(entry.key, entry.json) for entry in entries]

"""The dashboard service: what ingest calls, and what the hub delivers to.

No web framework here. Ingest turns input into facts (checking the limits), the throttle
decides which metric points go now, the hub commits facts and gives each its id, and
`deliver` folds each committed event into the state, encodes it once and hands the bytes to
the streams. `deliver` never awaits, so on the one event loop an event is folded, encoded and
fanned out before anything else can look: a page rendered at version V and a stream resumed
from V never miss or repeat an event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

from prometheus_client import Histogram

from app.domain.board import Board
from app.domain.events import Entry, Event
from app.domain.history import History
from app.domain.model import (
    ActivityAdded,
    ActivityIn,
    AlertIn,
    AlertRaised,
    AlertResolved,
    Fact,
    MetricPoint,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
)
from app.domain.state import DashboardState, StateData
from app.hubs.base import Hub
from app.hubs.embedded import EmbeddedHub
from app.service.limits import check_new_alert, check_new_metrics, check_not_future
from app.service.throttle import ThrottledPublisher
from app.settings import Settings
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer
from app.streaming.streams import Streams


class UnknownAlert(LookupError):
    """DELETE named an alert that is not open."""


class UnknownMetric(LookupError):
    """DELETE named a metric that has no card."""


class Dashboard:
    """One process's dashboard: its state, throttle and streams, on top of a hub."""

    def __init__(
        self,
        settings: Settings,
        renderer: Renderer,
        hub: Hub | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        board: Board | None = None,
        build: str = "",
    ) -> None:
        self.settings = settings
        self.board = board or Board()
        self.hub: Hub = hub or EmbeddedHub()
        self.state = DashboardState(settings.feed_size)
        self.history = History(settings.history_seconds, self.board.history_retention())
        self.frames = FrameEncoder(renderer, self.board, self.history)
        self.streams = Streams(
            self.state,
            self.frames,
            self.hub,
            window=settings.replay_window,
            client_buffer=settings.client_buffer_bytes,
            retry_ms=settings.retry_ms,
            flush_hz=settings.flush_hz,
            build=build,
        )
        self.throttle = ThrottledPublisher(
            settings.card_rate, self.publish, lambda name: self.state.metrics.get(name), monotonic
        )
        self.clock = clock
        # Registered by the app's own /metrics registry, never a global one.
        self.append_latency = Histogram(
            "livedash_hub_append_seconds",
            "Time the hub took to commit one append (one ingest request or one throttle slot).",
            registry=None,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.producer = False
        """This process runs the once-per-deployment producers (the demo source, the watcher)."""
        self.watched = self.board.watched()
        self.changed = asyncio.Event()
        """Set when a card the dashboard file watches (staleness, alert rules) changed."""

    async def start(self) -> None:
        """Load the stored state and replay window from the hub."""
        await self.hub.start(self)

    # --- the hub's side (Sink) -------------------------------------------------------

    def restore(self, state: StateData | None, entries: Sequence[Entry], origin: str) -> None:
        """Start from what the backend kept: state at `state.version`, the newest events."""
        self.streams.restore(entries, origin)
        if state is not None:
            self.state.restore(state)
        if not self.state.version:
            self.state.version = self.streams.ring.last_id

    def deliver(self, events: Sequence[Event]) -> list[Entry]:
        """Fold committed events into the state, encode each once, fan the bytes out."""
        entries = []
        for event in events:
            fact = event.fact
            self.history.apply(fact)  # before the card renders: its sparkline shows the point
            entry = self.frames.encode(event, self.state.apply(fact))
            self.state.version = event.id
            entries.append(entry)
            if isinstance(fact, (MetricUpdated, MetricStale, MetricRemoved)) and fact.name in self.watched:
                self.changed.set()
        self.streams.publish(entries)
        return entries

    def state_data(self) -> StateData:
        """The current state as plain data (the SQLite store persists it)."""
        return self.state.to_data()

    # --- ingest ------------------------------------------------------------------------

    async def publish(self, facts: Sequence[Fact]) -> list[str]:
        """Commit `facts` through the hub, in order; returns their ids."""
        if not facts:
            return []
        started = time.perf_counter()
        ids = await self.hub.append(facts)
        self.append_latency.observe(time.perf_counter() - started)
        return ids

    async def add_metrics(self, points: Sequence[MetricPoint]) -> list[str]:
        """Record a batch of readings (a point without `ts` is stamped now).

        Returns the ids of the events published now; points for a card that sent within the
        last `1/card_rate` s wait in the throttle and go out (the newest of them) on its next slot.
        """
        check_new_metrics(self.state, (p.name for p in points), self.settings.max_metrics)
        self.hub.check_accepting()  # before any point is held: a 503 must leave nothing behind
        now = self.clock()
        check_not_future((p.ts for p in points if p.ts is not None), now)
        facts = [MetricUpdated(p.name, float(p.value), now if p.ts is None else p.ts) for p in points]
        return await self.throttle.submit(facts)

    async def add_activity(self, item: ActivityIn) -> str:
        """Record one feed line."""
        fact = ActivityAdded(uuid.uuid4().hex[:12], item.message, item.actor, item.level, self.clock())
        return (await self.publish([fact]))[0]

    async def raise_alert(self, alert: AlertIn) -> str:
        """Open an alert, or replace the open one with the same id."""
        check_new_alert(self.state, alert.id, self.settings.max_alerts)
        fact = AlertRaised(alert.id, alert.severity, alert.title, alert.message, self.clock())
        return (await self.publish([fact]))[0]

    async def resolve_alert(self, alert_id: str) -> str:
        """Close an open alert; `UnknownAlert` if there is none by that id."""
        if alert_id not in self.state.alerts:
            raise UnknownAlert(alert_id)
        return (await self.publish([AlertResolved(alert_id, self.clock())]))[0]

    async def remove_metric(self, name: str) -> str:
        """Remove a card everywhere; `UnknownMetric` if there is none by that name.

        A point the throttle holds for it is dropped too, so it cannot bring the card back.
        """
        if name not in self.state.metrics:
            raise UnknownMetric(name)
        self.throttle.discard(name)
        return (await self.publish([MetricRemoved(name, self.clock())]))[0]

    # --- the line ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Tell every stream the line is alive (proxies drop silent connections)."""
        self.streams.broadcast(self.frames.heartbeat(self.state.version, self.clock()))

    async def run_heartbeats(self) -> None:
        """Send a heartbeat every `heartbeat_seconds` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            self.heartbeat()

"""Per-card throttling: at most `rate` updates per second for each metric card.

A metric can be ingested thousands of times a second; no screen can show that, and rendering
and sending every point would cost every client. Each card goes out at once when it has been
quiet for `1/rate` seconds; otherwise its newest point waits (replacing any point already
waiting) until the card may send again. The last value always goes out.

Throttling happens before the hub, so held points get no id: ids on the wire stay in order
and a replay after `Last-Event-ID` holds exactly what live clients saw. Every client sees the
same throttled sequence, so each still receives at most `rate` updates per card per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from app.domain.model import MetricUpdated
from app.domain.state import MetricValue
from app.hubs.base import HubUnavailable

log = logging.getLogger("livedash.throttle")


class CardThrottle:
    """Decides which metric points go out now and which wait; `rate <= 0` lets all through."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}  # name -> earliest time the card may send again
        self._held: dict[str, MetricUpdated] = {}

    def __len__(self) -> int:
        return len(self._held)

    def admit(self, points: Iterable[MetricUpdated], now: float) -> list[MetricUpdated]:
        """The points to publish now (the newest per card); the others are held."""
        if not self.interval:
            return list(points)
        latest: dict[str, MetricUpdated] = {}
        for point in points:
            latest[point.name] = point
        out = []
        for name, point in latest.items():
            if name in self._held or self._next.get(name, 0.0) > now:
                self._held[name] = point
            else:
                out.append(point)
                self._next[name] = now + self.interval
        return out

    def due(self, now: float) -> list[MetricUpdated]:
        """Held points whose card may send again by `now`, oldest schedule first."""
        ready = [name for name in self._held if self._next.get(name, 0.0) <= now]
        for name in ready:
            self._next[name] = now + self.interval
        return [self._held.pop(name) for name in ready]

    def hold_again(self, points: Iterable[MetricUpdated]) -> None:
        """Put back points that could not be published, unless a newer one is waiting."""
        for point in points:
            self._held.setdefault(point.name, point)

    def next_due(self) -> float | None:
        """When the earliest held point may go out, or None when nothing waits."""
        return min((self._next.get(name, 0.0) for name in self._held), default=None)

    def drain(self) -> list[MetricUpdated]:
        """Everything held, regardless of schedule (shutdown)."""
        held, self._held = list(self._held.values()), {}
        return held

    def held(self, names: Iterable[str]) -> dict[str, MetricUpdated]:
        """The points waiting for these cards now (to put back if a request fails)."""
        return {name: self._held[name] for name in names if name in self._held}

    def discard(self, name: str) -> None:
        """Drop the point held for `name`, if any (its card was removed)."""
        self._held.pop(name, None)

    def forget(self, points: Iterable[MetricUpdated], before: dict[str, MetricUpdated]) -> None:
        """Undo a failed request: drop its held points (exactly these objects), and bring back
        the points they replaced (`before`, from `held()`), which were accepted earlier."""
        for point in points:
            if self._held.get(point.name) is point:
                if point.name in before:
                    self._held[point.name] = before[point.name]
                else:
                    del self._held[point.name]


Publish = Callable[[Sequence[MetricUpdated]], Awaitable[list[str]]]


class ThrottledPublisher:
    """The throttle with everything it holds: points, their basis, their schedule, rollback.

    Every held point remembers the card's value when it was accepted (its basis). With Redis
    another process may publish the card meanwhile; the held point is then older than what
    everyone has and is dropped instead of sent over it.
    """

    def __init__(
        self,
        rate: float,
        publish: Publish,
        current: Callable[[str], MetricValue | None],
        monotonic: Callable[[], float],
    ) -> None:
        self.cards = CardThrottle(rate)
        self._publish = publish
        self._current = current
        self._monotonic = monotonic
        self._basis: dict[str, MetricValue | None] = {}
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self.cards)

    async def submit(self, points: Sequence[MetricUpdated]) -> list[str]:
        """Publish what may go now, hold the rest; the ids of what was published.

        When the hub refuses (`HubUnavailable`), nothing of this request stays held: the
        points it replaced come back, so a 503 leaves the throttle as it was.
        """
        names = {point.name for point in points}
        before = self.cards.held(names)
        basis = {name: self._basis.get(name) for name in before}
        admitted = self.cards.admit(points, self._monotonic())
        held_now = names - {point.name for point in admitted}
        for name in held_now:
            self._basis[name] = self._current(name)
        if len(self.cards):
            self._changed.set()
        try:
            return await self._publish(admitted)
        except HubUnavailable:
            self.cards.forget(points, before)
            for name in held_now:
                if name in basis:
                    self._basis[name] = basis[name]
                else:
                    self._basis.pop(name, None)
            raise

    async def run(self) -> None:
        """Send held points when their card may send again, until cancelled."""
        while True:
            due_at = self.cards.next_due()
            if due_at is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            delay = due_at - self._monotonic()
            if delay > 0:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):  # a newly held card may be due sooner
                    await asyncio.wait_for(self._changed.wait(), delay)
                continue
            points = self._still_newest(self.cards.due(self._monotonic()))
            try:
                await self._publish(points)
            except HubUnavailable as exc:
                log.debug("held card updates wait for the hub: %s", exc)
                self._hold_again(points)
                await asyncio.sleep(0.5)

    async def flush(self, patience: float = 3.0) -> None:
        """Publish every held point now (shutdown: the last value always arrives).

        During a Redis outage, retry for `patience` seconds (inside the server's graceful
        shutdown time); what still cannot go out is logged as lost, value by value.
        """
        held = self._still_newest(self.cards.drain())
        deadline = self._monotonic() + patience
        while held:
            try:
                await self._publish(held)
                return
            except HubUnavailable as exc:
                if self._monotonic() >= deadline:
                    lost = ", ".join(f"{p.name}={p.value!r}" for p in held)
                    log.error("%d held card updates could not be recorded (%s): %s", len(held), exc, lost)
                    return
                await asyncio.sleep(0.25)

    def discard(self, name: str) -> None:
        """Drop what is held for `name` (its card was removed: a held point must not revive it)."""
        self.cards.discard(name)
        self._basis.pop(name, None)

    def _still_newest(self, points: list[MetricUpdated]) -> list[MetricUpdated]:
        """Held points whose card nobody else published since they were accepted."""
        fresh = []
        for point in points:
            basis = self._basis.pop(point.name, None)
            if self._current(point.name) is basis:
                fresh.append(point)
            else:
                log.debug("held %s superseded by another process's newer value", point.name)
        return fresh

    def _hold_again(self, points: list[MetricUpdated]) -> None:
        for point in points:
            self._basis.setdefault(point.name, self._current(point.name))
        self.cards.hold_again(points)

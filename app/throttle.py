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

from collections.abc import Iterable

from app.model import MetricUpdated


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

    def forget(self, points: Iterable[MetricUpdated], before: dict[str, MetricUpdated]) -> None:
        """Undo a failed request: drop its held points (exactly these objects), and bring back
        the points they replaced (`before`, from `held()`), which were accepted earlier."""
        for point in points:
            if self._held.get(point.name) is point:
                if point.name in before:
                    self._held[point.name] = before[point.name]
                else:
                    del self._held[point.name]

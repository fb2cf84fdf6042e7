"""Current values: what a freshly opened page shows, folded from the events in order."""

from __future__ import annotations

from collections import deque

import msgspec

from app.domain.events import Change
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
)


class MetricValue(msgspec.Struct, frozen=True):
    """A metric's latest value, with the one before it for the trend arrow."""

    name: str
    value: float
    ts: float
    previous: float | None = None
    stale: bool = False
    """No point came for the card's `stale_after`; the next point clears it."""

    @property
    def trend(self) -> str:
        """`up`, `down` or `flat` against the previous value."""
        if self.previous is None or self.previous == self.value:
            return "flat"
        return "up" if self.value > self.previous else "down"


def is_stale_of(fact: MetricStale, current: MetricValue | None) -> bool:
    """Whether `fact` still marks the card's newest point (and it is not stale already).

    Redis's fold (append.lua) decides the same by comparing the stored point byte for byte.
    """
    return current is not None and not current.stale and current.value == fact.value and current.ts == fact.ts


class StateData(msgspec.Struct, frozen=True):
    """The state as stored (SQLite) or loaded (Redis): plain data, in display order."""

    version: str
    metrics: list[MetricValue] = []
    feed: list[ActivityAdded] = []
    """Newest first."""
    alerts: list[AlertRaised] = []
    """In the order they were first raised."""
    updated_at: float = 0.0


class DashboardState:
    """Metrics by name, the newest feed items, and the open alerts.

    `apply` reports whether a fact created a new element (a card or a banner the page does
    not have yet), because that decides which element the browser swaps it into, and the
    value a metric replaced, for its trend arrow.
    """

    def __init__(self, feed_size: int) -> None:
        self.metrics: dict[str, MetricValue] = {}
        self.feed: deque[ActivityAdded] = deque(maxlen=feed_size)
        self.alerts: dict[str, AlertRaised] = {}
        self.version = ""
        self.updated_at = 0.0

    def apply(self, fact: Fact) -> Change:
        """Fold one fact in; `TypeError` for a kind this fold does not know (never a guess)."""
        if isinstance(fact, MetricUpdated):
            old = self.metrics.get(fact.name)
            previous = None if old is None else old.value
            self.metrics[fact.name] = MetricValue(fact.name, fact.value, fact.ts, previous)
            change = Change(old is None, previous)
        elif isinstance(fact, ActivityAdded):
            self.feed.appendleft(fact)
            change = Change(True)
        elif isinstance(fact, AlertRaised):
            change = Change(fact.id not in self.alerts)
            self.alerts[fact.id] = fact
        elif isinstance(fact, AlertResolved):
            change = Change(self.alerts.pop(fact.id, None) is not None)
        elif isinstance(fact, MetricStale):
            current = self.metrics.get(fact.name)
            applies = is_stale_of(fact, current)
            if applies and current is not None:
                self.metrics[fact.name] = MetricValue(
                    current.name, current.value, current.ts, current.previous, True
                )
            return Change(applies, fact.previous)  # its ts is the point's: "updated at" stays
        elif isinstance(fact, MetricRemoved):
            change = Change(self.metrics.pop(fact.name, None) is not None)
        else:
            raise TypeError(f"unknown fact {fact!r}")
        self.updated_at = max(self.updated_at, fact.ts)
        return change

    def to_data(self) -> StateData:
        """A copy that can be encoded (for the SQLite snapshot)."""
        return StateData(
            self.version,
            list(self.metrics.values()),
            list(self.feed),
            list(self.alerts.values()),
            self.updated_at,
        )

    def restore(self, data: StateData) -> None:
        """Start from stored state instead of empty."""
        self.metrics = {metric.name: metric for metric in data.metrics}
        self.feed.clear()
        self.feed.extend(data.feed[: self.feed.maxlen])  # newest first: keep the newest
        self.alerts = {alert.id: alert for alert in data.alerts}
        self.version = data.version
        self.updated_at = data.updated_at

    def open_alerts(self) -> list[AlertRaised]:
        """Open alerts, newest first, as the banners stack."""
        return list(reversed(self.alerts.values()))

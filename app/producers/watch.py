"""The watcher: pushes staleness and follows the alert rules of the dashboard file.

A card that got no point for its `stale_after` must turn stale on every screen without anyone
asking, and a card with `alert = true` raises and resolves its own banner. Both are facts
published through the hub (`MetricStale`, `AlertRaised`/`AlertResolved` with id
`rule-<metric>`), so they get ids, replay, and fold into the state like any other event.

The watcher is a producer: it runs once per deployment (with Redis, in the process holding the
producers lease), so several processes raise one banner, not one each. What it decides from
is the shared state itself (the card's point, the rule's open banner), so a process that takes
the lease over carries on where the last one stopped; only a pending `for` timer restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from app.domain.board import SEVERITY_RANK, Card, Level
from app.domain.model import RULE_PREFIX, AlertRaised, AlertResolved, Fact, MetricStale, Severity
from app.domain.state import MetricValue
from app.hubs.base import HubUnavailable
from app.service.dashboard import Dashboard
from app.streaming.render import label as readable

log = logging.getLogger("livedash.watch")

LONGEST_NAP = 5.0
"""Check at least this often even when nothing is due (the wall clock may jump)."""


class Watcher:
    """Turns the passing of time and the values of watched cards into facts."""

    def __init__(
        self,
        dashboard: Dashboard,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dashboard = dashboard
        self._monotonic = monotonic
        self._pending: dict[str, tuple[Level, float]] = {}
        """Rules waiting out their `for`: card -> (the worse level, since when)."""

    async def run(self) -> None:
        """Check whenever a watched card changes or something falls due, until cancelled."""
        changed = self.dashboard.changed
        while True:
            changed.clear()
            try:
                nap = await self.check()
            except HubUnavailable as exc:
                log.debug("watcher waits for the hub: %s", exc)
                nap = 0.5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), nap)

    async def check(self) -> float:
        """Publish what is due now; how long until something may be due next."""
        facts, nap = self.due()
        if facts:
            await self.dashboard.publish(facts)
        return nap

    def due(self) -> tuple[list[Fact], float]:
        """The facts due now (stale marks, rule alerts) and the seconds until the next check."""
        now = self.dashboard.clock()
        metrics = self.dashboard.state.metrics
        facts: list[Fact] = []
        nap = LONGEST_NAP
        for name, card in self.dashboard.watched.items():
            metric = metrics.get(name)
            if card.stale_after and metric is not None and not metric.stale:
                left = metric.ts + card.stale_after - now
                if left <= 0:
                    facts.append(MetricStale(name, metric.value, metric.ts, metric.previous))
                    metric = None  # stale from here on: no rule decision on an old value
                else:
                    nap = min(nap, left)
            if card.alert:
                fact, wait = self._rule(name, card, metric, now)
                if fact is not None:
                    facts.append(fact)
                if wait is not None:
                    nap = min(nap, wait)
        facts.extend(self._orphans(now))
        return facts, max(nap, 0.01)

    def _rule(
        self, name: str, card: Card, metric: MetricValue | None, now: float
    ) -> tuple[Fact | None, float | None]:
        """What the rule of `name` does now, and when to look again if it waits out `for`."""
        alert_id = RULE_PREFIX + name
        banner = self.dashboard.state.alerts.get(alert_id)
        current: Level = "ok" if banner is None else _level(banner.severity)
        if metric is not None and metric.stale:
            return None, None  # an old value decides nothing; the banner stays as it is
        if metric is None:
            target: Level = "ok" if name not in self.dashboard.state.metrics else current
        else:
            raw = card.level(metric.value)
            if SEVERITY_RANK[raw] > SEVERITY_RANK[current]:
                target = raw
            else:
                eased = card.level(metric.value, slack=card.hysteresis)
                target = eased if SEVERITY_RANK[eased] < SEVERITY_RANK[current] else current
        if target == current:
            self._pending.pop(name, None)
            return None, None
        if SEVERITY_RANK[target] > SEVERITY_RANK[current] and card.for_ > 0:
            mono = self._monotonic()
            level, since = self._pending.get(name, (None, mono))
            if level != target:
                self._pending[name] = (target, mono)
                return None, card.for_
            if mono - since < card.for_:
                return None, card.for_ - (mono - since)
        self._pending.pop(name, None)
        if target == "ok":
            return AlertResolved(alert_id, now), None
        assert metric is not None
        return self._raised(alert_id, name, card, metric, target, now), None

    def _raised(
        self, alert_id: str, name: str, card: Card, metric: MetricValue, level: Level, now: float
    ) -> AlertRaised:
        label = card.label or readable(name)
        threshold = card.crit if level == "critical" else card.warn
        assert threshold is not None
        sign = "≥" if card.bad == "high" else "≤"
        limit, limit_unit = card.parts(threshold)
        value, unit = card.parts(metric.value)
        return AlertRaised(
            alert_id,
            Severity(level),
            f"{label} {sign} {limit}{_spaced(limit_unit)}",
            f"Now {value}{_spaced(unit)}. Raised by the dashboard file's rule; resolves when back to ok.",
            now,
        )

    def _orphans(self, now: float) -> list[Fact]:
        """Rule banners whose card no longer alerts (the file changed): nobody would resolve them."""
        alerting = {name for name, card in self.dashboard.watched.items() if card.alert}
        return [
            AlertResolved(alert_id, now)
            for alert_id in self.dashboard.state.alerts
            if alert_id.startswith(RULE_PREFIX) and alert_id.removeprefix(RULE_PREFIX) not in alerting
        ]


def _level(severity: Severity) -> Level:
    return "critical" if severity is Severity.critical else "warning"


def _spaced(unit: str) -> str:
    return unit if unit in ("", "%") else f" {unit}"

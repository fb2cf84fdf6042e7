"""The built-in demo source: believable traffic so a fresh `make run` is alive at once.

It publishes through the same `Dashboard` methods as the ingest API, so what you see in the
demo is exactly what an integration would produce (throttling and the hub included).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from app.domain.model import ActivityIn, AlertIn, Level, MetricPoint, Severity
from app.hubs.base import HubUnavailable
from app.service.dashboard import Dashboard

log = logging.getLogger("livedash.demo")

_ACTORS = ("ada", "grace", "linus", "margaret", "ken", "barbara", "guido", "radia")
_ACTIONS = (
    ("signed up from the pricing page", Level.success),
    ("upgraded to the Team plan", Level.success),
    ("exported a CSV report", Level.info),
    ("invited 3 teammates", Level.info),
    ("opened a support ticket", Level.warning),
    ("deployed web@{build}", Level.info),
    ("payment failed, retrying", Level.error),
    ("rotated an API key", Level.info),
)
_ALERTS = (
    ("p95-latency", Severity.warning, "p95 latency above 300 ms", "Checkout is slower than usual."),
    ("error-rate", Severity.critical, "Error rate above 2%", "5xx responses from the API tier."),
    ("queue-depth", Severity.warning, "Job queue backing up", "Workers are behind by a few minutes."),
)


@dataclass
class DemoSource:
    """A random walk per metric, with a daily-looking wave on traffic."""

    dashboard: Dashboard
    interval: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    _tick: int = 0
    _page_views: float = 120_000
    _revenue: float = 48_210.0
    _signups: float = 1_204
    _open_alert: tuple[str, int] | None = None

    async def step(self) -> None:
        """Publish one tick's worth of metrics, now and then an activity line or an alert."""
        self._tick += 1
        rng = self.rng
        active = 800 + 250 * rng.random() + 150 * ((self._tick // 30) % 4)
        self._page_views += rng.randint(20, 120)
        if rng.random() < 0.3:
            self._signups += 1
            self._revenue += rng.choice((29.0, 49.0, 99.0, 199.0))
        error_rate = max(0.0, rng.gauss(0.6, 0.25))
        latency = max(40.0, rng.gauss(180, 35))
        if self._open_alert and self._open_alert[0] == "error-rate":
            error_rate += 2.5
        if self._open_alert and self._open_alert[0] == "p95-latency":
            latency += 160
        await self.dashboard.add_metrics(
            [
                MetricPoint("page_views", self._page_views),
                MetricPoint("active_users", float(int(active))),
                MetricPoint("signups", self._signups),
                MetricPoint("revenue", round(self._revenue, 2)),
                MetricPoint("error_rate", round(error_rate, 2)),
                MetricPoint("p95_latency_ms", round(latency, 1)),
            ]
        )
        if rng.random() < 0.35:
            action, level = rng.choice(_ACTIONS)
            message = action.format(build=f"{rng.randint(1000, 9999)}")
            await self.dashboard.add_activity(ActivityIn(message, rng.choice(_ACTORS), level))
        await self._maybe_alert()

    async def _maybe_alert(self) -> None:
        if self._open_alert is None:
            if self.rng.random() < 0.03:
                alert_id, severity, title, message = self.rng.choice(_ALERTS)
                await self.dashboard.raise_alert(AlertIn(alert_id, severity, title, message))
                self._open_alert = (alert_id, self._tick + self.rng.randint(8, 25))
        elif self._tick >= self._open_alert[1]:
            alert_id = self._open_alert[0]
            self._open_alert = None
            if alert_id in self.dashboard.state.alerts:
                await self.dashboard.resolve_alert(alert_id)
                await self.dashboard.add_activity(
                    ActivityIn(f"resolved alert {alert_id}", "livedash", Level.success)
                )

    def resume(self) -> None:
        """Carry on from the dashboard's state (after a restart, or from another process's
        demo), so counters keep counting up instead of jumping back to their start values."""
        metrics = self.dashboard.state.metrics
        for name in ("page_views", "revenue", "signups"):
            if name in metrics:
                setattr(self, f"_{name}", metrics[name].value)
        open_ids = [alert_id for alert_id, *_ in _ALERTS if alert_id in self.dashboard.state.alerts]
        if open_ids and self._open_alert is None:
            self._open_alert = (open_ids[0], self._tick + self.rng.randint(8, 25))

    async def run(self) -> None:
        """Tick every `interval` seconds until cancelled."""
        self.resume()
        while True:
            try:
                await self.step()
            except HubUnavailable as exc:
                log.debug("demo tick skipped: %s", exc)
            await asyncio.sleep(self.interval)

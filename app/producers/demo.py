"""The built-in demo source: believable traffic so a fresh `make run` is alive at once.

It publishes through the same `Dashboard` methods as the ingest API, so what you see in the
demo is exactly what an integration would produce (throttling and the hub included). Its
metric names start with `demo_` and its alert ids with `demo-`, so it never overwrites,
replaces or resolves what a real integration sends (the repository's dashboard.toml
describes these cards).
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

NIGHTLY_EVERY = 45
"""Ticks between two reports of `demo_nightly_job_s` (its `stale_after` in dashboard.toml is shorter)."""

PREFIX = "demo_"
"""Every demo metric's name starts with it (and every demo alert id with `demo-`)."""

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
    ("demo-p95-latency", Severity.warning, "p95 latency above 300 ms", "Checkout is slower than usual."),
    ("demo-error-rate", Severity.critical, "Error rate above 2%", "5xx responses from the API tier."),
    ("demo-queue-depth", Severity.warning, "Job queue backing up", "Workers are behind by a few minutes."),
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
    _cache_dip_until: int = 0

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
        if self._open_alert and self._open_alert[0] == "demo-error-rate":
            error_rate += 2.5
        if self._open_alert and self._open_alert[0] == "demo-p95-latency":
            latency += 160
        # Now and then the cache dips for a while: the dashboard file's rule raises its banner.
        if self._cache_dip_until <= self._tick and rng.random() < 0.02:
            self._cache_dip_until = self._tick + rng.randint(6, 20)
        hit_ratio = rng.gauss(0.93, 0.015) - (0.12 if self._cache_dip_until > self._tick else 0.0)
        batch = [
            MetricPoint("demo_page_views", self._page_views),
            MetricPoint("demo_active_users", float(int(active))),
            MetricPoint("demo_signups", self._signups),
            MetricPoint("demo_revenue", round(self._revenue, 2)),
            MetricPoint("demo_error_rate", round(error_rate, 2)),
            MetricPoint("demo_p95_latency_ms", round(latency, 1)),
            MetricPoint("demo_cache_hit_ratio", round(min(1.0, max(0.0, hit_ratio)), 4)),
            MetricPoint("demo_egress_bytes", float(int(max(0.0, rng.gauss(12.5, 2.0) * 2**20)))),
        ]
        if self._tick % NIGHTLY_EVERY == 1:  # a job that reports rarely: its card goes stale between runs
            batch.append(MetricPoint("demo_nightly_job_s", round(max(1.0, rng.gauss(95, 12)), 1)))
        await self.dashboard.add_metrics(batch)
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
            if PREFIX + name in metrics:
                setattr(self, f"_{name}", metrics[PREFIX + name].value)
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

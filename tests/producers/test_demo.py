from __future__ import annotations

import random

import msgspec
import pytest

from app.domain.model import MetricPoint
from app.producers.demo import DemoSource
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer

EVERY_TICK = {
    "demo_page_views",
    "demo_active_users",
    "demo_signups",
    "demo_revenue",
    "demo_error_rate",
    "demo_p95_latency_ms",
    "demo_cache_hit_ratio",
    "demo_egress_bytes",
}
DEMO_METRICS = EVERY_TICK | {"demo_nightly_job_s"}


@pytest.mark.anyio
async def test_demo_publishes_every_metric_each_tick_and_alerts_resolve(dashboard: Dashboard) -> None:
    demo = DemoSource(dashboard, rng=random.Random(7))
    raised = resolved = 0
    for tick in range(600):
        before = set(dashboard.state.alerts)
        version = dashboard.state.version
        await demo.step()
        missed = dashboard.streams.ring.since(version)
        assert missed is not None and len(missed) >= len(EVERY_TICK), tick  # every card, every tick
        after = set(dashboard.state.alerts)
        raised += len(after - before)
        resolved += len(before - after)
    assert set(dashboard.state.metrics) == DEMO_METRICS
    assert len(dashboard.state.feed) == dashboard.settings.feed_size
    assert raised >= 3 and resolved >= raised - 1
    assert all(m.value >= 0 for m in dashboard.state.metrics.values())


@pytest.mark.anyio
async def test_demo_goes_through_the_throttle_like_any_producer(
    settings: Settings, renderer: Renderer
) -> None:
    """Ticks faster than `card_rate` are held, not sent: the demo is throttled as ingest is."""
    now = 0.0
    dashboard = Dashboard(msgspec.structs.replace(settings, card_rate=1), renderer, monotonic=lambda: now)
    await dashboard.start()
    demo = DemoSource(dashboard, rng=random.Random(7))
    await demo.step()
    first = dict(dashboard.state.metrics)
    now = 0.5
    await demo.step()
    assert dashboard.state.metrics == first
    assert len(dashboard.throttle) == len(EVERY_TICK)
    await dashboard.throttle.flush()
    assert dashboard.state.metrics["demo_page_views"].value > first["demo_page_views"].value


@pytest.mark.anyio
async def test_demo_carries_on_from_the_restored_counters(dashboard: Dashboard) -> None:
    """After a restart the counters keep counting up instead of jumping back to their start."""
    await dashboard.add_metrics(
        [MetricPoint("demo_page_views", 9_000_000.0), MetricPoint("demo_signups", 50_000.0)]
    )
    demo = DemoSource(dashboard, rng=random.Random(7))
    demo.resume()
    await demo.step()
    assert dashboard.state.metrics["demo_page_views"].value > 9_000_000
    assert dashboard.state.metrics["demo_signups"].value >= 50_000

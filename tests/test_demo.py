from __future__ import annotations

import random

from app.dashboard import Dashboard
from app.demo import DemoSource

DEMO_METRICS = {"page_views", "active_users", "signups", "revenue", "error_rate", "p95_latency_ms"}


def test_demo_publishes_every_metric_each_tick_and_alerts_resolve(dashboard: Dashboard) -> None:
    demo = DemoSource(dashboard, rng=random.Random(7))
    raised = resolved = 0
    for _ in range(600):
        before = set(dashboard.state.alerts)
        demo.step()
        after = set(dashboard.state.alerts)
        raised += len(after - before)
        resolved += len(before - after)
    assert set(dashboard.state.metrics) == DEMO_METRICS
    assert len(dashboard.state.feed) == dashboard.settings.feed_size
    assert raised >= 3 and resolved >= raised - 1
    assert all(m.value >= 0 for m in dashboard.state.metrics.values())

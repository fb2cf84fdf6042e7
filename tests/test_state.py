from __future__ import annotations

from app.model import ActivityAdded, AlertRaised, AlertResolved, Level, MetricUpdated, Severity
from app.state import DashboardState


def activity(key: str) -> ActivityAdded:
    return ActivityAdded(key, f"message {key}", None, Level.info, 1.0)


def test_first_value_creates_a_card_and_later_ones_update_it() -> None:
    state = DashboardState(feed_size=5)
    assert state.apply(MetricUpdated("cpu", 10.0, 1.0)) is True
    assert state.apply(MetricUpdated("cpu", 12.0, 2.0)) is False
    metric = state.metrics["cpu"]
    assert (metric.value, metric.previous, metric.trend) == (12.0, 10.0, "up")
    state.apply(MetricUpdated("cpu", 3.0, 3.0))
    assert state.metrics["cpu"].trend == "down"
    assert state.updated_at == 3.0


def test_feed_is_newest_first_and_capped() -> None:
    state = DashboardState(feed_size=3)
    for key in "abcde":
        state.apply(activity(key))
    assert [item.key for item in state.feed] == ["e", "d", "c"]


def test_alerts_open_replace_and_resolve() -> None:
    state = DashboardState(feed_size=3)
    assert state.apply(AlertRaised("db", Severity.warning, "slow", None, 1.0)) is True
    assert state.apply(AlertRaised("api", Severity.info, "note", None, 2.0)) is True
    assert state.apply(AlertRaised("db", Severity.critical, "down", None, 3.0)) is False
    assert [(a.id, a.severity) for a in state.open_alerts()] == [
        ("api", Severity.info),
        ("db", Severity.critical),
    ]
    assert state.apply(AlertResolved("db", 4.0)) is True
    assert state.apply(AlertResolved("db", 5.0)) is False
    assert [a.id for a in state.open_alerts()] == ["api"]

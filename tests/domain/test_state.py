from __future__ import annotations

from typing import cast

import msgspec
import pytest

from app.domain.events import Change
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    Level,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
    Severity,
)
from app.domain.state import DashboardState, MetricValue, StateData


def activity(key: str) -> ActivityAdded:
    return ActivityAdded(key, f"message {key}", None, Level.info, 1.0)


def test_first_value_creates_a_card_and_later_ones_update_it() -> None:
    state = DashboardState(feed_size=5)
    assert state.apply(MetricUpdated("cpu", 10.0, 1.0)) == Change(created=True, previous=None)
    assert state.apply(MetricUpdated("cpu", 12.0, 2.0)) == Change(created=False, previous=10.0)
    metric = state.metrics["cpu"]
    assert (metric.value, metric.previous, metric.trend) == (12.0, 10.0, "up")
    state.apply(MetricUpdated("cpu", 3.0, 3.0))
    assert state.metrics["cpu"].trend == "down"
    assert state.updated_at == 3.0


def test_an_unknown_fact_is_refused_and_changes_nothing() -> None:
    state = DashboardState(feed_size=3)
    state.apply(MetricUpdated("cpu", 1.0, 5.0))
    before = state.to_data()
    with pytest.raises(TypeError, match="unknown fact"):
        state.apply(cast(Fact, "not a fact"))
    assert state.to_data() == before


def test_feed_is_newest_first_and_capped() -> None:
    state = DashboardState(feed_size=3)
    for key in "abcde":
        state.apply(activity(key))
    assert [item.key for item in state.feed] == ["e", "d", "c"]


def test_alerts_open_replace_and_resolve() -> None:
    state = DashboardState(feed_size=3)
    assert state.apply(AlertRaised("db", Severity.warning, "slow", None, 1.0)) == Change(True)
    assert state.apply(AlertRaised("api", Severity.info, "note", None, 2.0)) == Change(True)
    assert state.apply(AlertRaised("db", Severity.critical, "down", None, 3.0)) == Change(False)
    assert [(a.id, a.severity) for a in state.open_alerts()] == [
        ("api", Severity.info),
        ("db", Severity.critical),
    ]
    assert state.apply(AlertResolved("db", 4.0)) == Change(True)
    assert state.apply(AlertResolved("db", 5.0)) == Change(False)
    assert [a.id for a in state.open_alerts()] == ["api"]


def test_to_data_and_restore_round_trip_through_msgpack() -> None:
    """The SQLite store keeps the state as msgpack; a restart must show exactly the same page."""
    state = DashboardState(feed_size=3)
    state.apply(MetricUpdated("cpu", 10.0, 1.0))
    state.apply(MetricUpdated("mem", 1.0, 2.0))
    state.apply(MetricUpdated("cpu", 12.0, 3.0))
    for key in "abcd":
        state.apply(activity(key))
    state.apply(AlertRaised("db", Severity.warning, "slow", None, 4.0))
    state.apply(AlertRaised("api", Severity.info, "note", "more", 5.0))
    state.version = "7-9"
    data = msgspec.msgpack.decode(msgspec.msgpack.encode(state.to_data()), type=StateData)

    restored = DashboardState(feed_size=3)
    restored.restore(data)
    assert restored.version == "7-9" and restored.updated_at == 5.0
    assert list(restored.metrics) == ["cpu", "mem"]  # card order survives
    assert restored.metrics["cpu"] == MetricValue("cpu", 12.0, 3.0, 10.0)
    assert [item.key for item in restored.feed] == ["d", "c", "b"]
    assert [a.id for a in restored.open_alerts()] == ["api", "db"]
    assert restored.to_data() == state.to_data()


def test_restore_replaces_what_was_there_and_keeps_the_feed_capped() -> None:
    state = DashboardState(feed_size=2)
    state.apply(MetricUpdated("stale", 1.0, 1.0))
    state.apply(AlertRaised("old", Severity.info, "old", None, 1.0))
    state.apply(activity("old"))
    state.restore(StateData("1-5", feed=[activity(key) for key in "zy"]))
    assert state.metrics == {} and state.alerts == {}
    assert [item.key for item in state.feed] == ["z", "y"]
    state.apply(activity("w"))
    assert [item.key for item in state.feed] == ["w", "z"]


def test_restore_into_a_smaller_feed_keeps_the_newest_items() -> None:
    big = DashboardState(feed_size=5)
    for key in "abcde":
        big.apply(ActivityAdded(key, key, None, Level.info, 1.0))
    small = DashboardState(feed_size=2)
    small.restore(big.to_data())
    assert [item.key for item in small.feed] == ["e", "d"]


def test_a_stale_mark_marks_the_newest_point_and_the_next_point_clears_it() -> None:
    state = DashboardState(feed_size=5)
    state.apply(MetricUpdated("cpu", 1.0, 10.0))
    state.apply(MetricUpdated("cpu", 2.0, 20.0))
    change = state.apply(MetricStale("cpu", 2.0, 20.0, 1.0))
    assert change == Change(True, 1.0)
    assert state.metrics["cpu"] == MetricValue("cpu", 2.0, 20.0, 1.0, stale=True)
    assert state.updated_at == 20.0  # a stale mark is no news: "updated at" stays
    assert state.apply(MetricUpdated("cpu", 3.0, 40.0)) == Change(False, 2.0)
    assert state.metrics["cpu"] == MetricValue("cpu", 3.0, 40.0, 2.0, stale=False)


def test_a_stale_mark_beaten_by_a_newer_point_changes_nothing() -> None:
    """With Redis the watcher may time a card out just as another process ingests a point."""
    state = DashboardState(feed_size=5)
    state.apply(MetricUpdated("cpu", 1.0, 10.0))
    state.apply(MetricUpdated("cpu", 2.0, 20.0))
    assert state.apply(MetricStale("cpu", 1.0, 10.0, None)) == Change(False, None)
    assert state.apply(MetricStale("gone", 1.0, 10.0, None)) == Change(False, None)
    assert state.metrics["cpu"] == MetricValue("cpu", 2.0, 20.0, 1.0, stale=False)
    assert "gone" not in state.metrics


def test_a_stale_mark_applies_once() -> None:
    state = DashboardState(feed_size=5)
    state.apply(MetricUpdated("cpu", 1.0, 10.0))
    assert state.apply(MetricStale("cpu", 1.0, 10.0, None)).created is True
    assert state.apply(MetricStale("cpu", 1.0, 10.0, None)).created is False


def test_removing_a_card_drops_it_and_says_whether_it_was_there() -> None:
    state = DashboardState(feed_size=5)
    state.apply(MetricUpdated("cpu", 1.0, 10.0))
    state.apply(MetricUpdated("mem", 1.0, 10.0))
    assert state.apply(MetricRemoved("cpu", 30.0)) == Change(True)
    assert list(state.metrics) == ["mem"]
    assert state.apply(MetricRemoved("cpu", 31.0)) == Change(False)
    assert state.apply(MetricUpdated("cpu", 5.0, 32.0)) == Change(True, None)  # back as a new card
    assert list(state.metrics) == ["mem", "cpu"]

"""Per-card throttling: at most `rate` updates a second per card, and the last value always goes out."""

from __future__ import annotations

from app.domain.model import MetricUpdated
from app.service.throttle import CardThrottle


def point(name: str, value: float) -> MetricUpdated:
    return MetricUpdated(name, value, value)


def values(points: list[MetricUpdated]) -> list[tuple[str, float]]:
    return [(p.name, p.value) for p in points]


def test_first_point_of_a_card_goes_out_at_once() -> None:
    throttle = CardThrottle(rate=4)
    assert throttle.interval == 0.25
    assert values(throttle.admit([point("cpu", 1)], now=100.0)) == [("cpu", 1)]
    assert len(throttle) == 0
    assert throttle.next_due() is None


def test_points_within_the_interval_are_held_and_the_newest_replaces_the_older() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    assert throttle.admit([point("cpu", 2)], now=100.1) == []
    assert throttle.admit([point("cpu", 3)], now=100.2) == []
    assert len(throttle) == 1
    assert throttle.next_due() == 100.25
    assert values(throttle.drain()) == [("cpu", 3)]


def test_cards_are_throttled_independently() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    assert values(throttle.admit([point("cpu", 2), point("mem", 1)], now=100.1)) == [("mem", 1)]
    assert len(throttle) == 1


def test_due_releases_a_held_point_only_when_its_card_may_send_again() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    throttle.admit([point("cpu", 2)], now=100.1)
    assert throttle.due(100.2) == []
    assert values(throttle.due(100.25)) == [("cpu", 2)]
    assert len(throttle) == 0
    assert throttle.due(101.0) == []
    # Releasing it counts as sending: the card's next slot is a full interval later.
    assert throttle.admit([point("cpu", 3)], now=100.4) == []
    assert throttle.next_due() == 100.5


def test_a_quiet_card_sends_at_once_again() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    assert values(throttle.admit([point("cpu", 2)], now=100.25)) == [("cpu", 2)]
    assert values(throttle.admit([point("cpu", 3)], now=101.0)) == [("cpu", 3)]


def test_a_new_point_waits_behind_a_held_one_even_when_the_slot_has_come() -> None:
    """Otherwise it would overtake the held point and then be overwritten by it."""
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    throttle.admit([point("cpu", 2)], now=100.1)
    assert throttle.admit([point("cpu", 3)], now=100.3) == []
    assert values(throttle.due(100.3)) == [("cpu", 3)]


def test_a_batch_keeps_only_the_newest_point_per_card() -> None:
    throttle = CardThrottle(rate=4)
    batch = [point("cpu", 1), point("mem", 1), point("cpu", 2), point("cpu", 3), point("mem", 2)]
    assert values(throttle.admit(batch, now=100.0)) == [("cpu", 3), ("mem", 2)]
    assert len(throttle) == 0


def test_rate_zero_passes_every_point_in_order() -> None:
    throttle = CardThrottle(rate=0)
    batch = [point("cpu", 1), point("cpu", 2), point("mem", 1), point("cpu", 3)]
    assert throttle.admit(batch, now=100.0) == batch
    assert throttle.admit(batch, now=100.0) == batch
    assert len(throttle) == 0 and throttle.next_due() is None


def test_next_due_is_the_earliest_held_card() -> None:
    throttle = CardThrottle(rate=2)
    throttle.admit([point("cpu", 1)], now=100.0)
    throttle.admit([point("mem", 1)], now=100.2)
    throttle.admit([point("mem", 2), point("cpu", 2)], now=100.3)
    assert throttle.next_due() == 100.5
    assert values(throttle.due(100.5)) == [("cpu", 2)]
    assert throttle.next_due() == 100.7


def test_hold_again_puts_back_unpublished_points_unless_a_newer_one_waits() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1), point("mem", 1)], now=100.0)
    throttle.admit([point("cpu", 2), point("mem", 2)], now=100.1)
    released = throttle.due(100.3)  # ... and then the hub refused them
    throttle.admit([point("mem", 3)], now=100.35)
    throttle.hold_again(released)
    assert sorted(values(throttle.drain())) == [("cpu", 2), ("mem", 3)]


def test_forget_drops_exactly_the_given_points() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1), point("mem", 1)], now=100.0)
    request = [point("cpu", 2)]
    throttle.admit(request, now=100.1)
    throttle.admit([point("mem", 2)], now=100.1)
    throttle.forget([*request, point("mem", 2)], {})  # an equal but other point is not forgotten
    assert values(throttle.drain()) == [("mem", 2)]


def test_forget_brings_back_the_held_point_a_failed_request_replaced() -> None:
    throttle = CardThrottle(rate=4)
    throttle.admit([point("cpu", 1)], now=100.0)
    throttle.admit([point("cpu", 2)], now=100.1)  # accepted earlier (202, held)
    request = [point("cpu", 3), point("mem", 1)]
    before = throttle.held(p.name for p in request)
    throttle.admit(request, now=100.2)
    throttle.forget(request, before)  # that request failed (503)
    assert values(throttle.drain()) == [("cpu", 2)]


def test_drain_empties_the_throttle_whatever_the_schedule() -> None:
    throttle = CardThrottle(rate=1)
    throttle.admit([point("a", 1), point("b", 1)], now=100.0)
    throttle.admit([point("a", 2), point("b", 2)], now=100.1)
    assert sorted(values(throttle.drain())) == [("a", 2), ("b", 2)]
    assert len(throttle) == 0 and throttle.next_due() is None
    assert throttle.drain() == []

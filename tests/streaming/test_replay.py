"""The in-memory replay window: which `Last-Event-ID`s it can answer, and exactly with what."""

from __future__ import annotations

import pytest

from app.domain.events import Entry
from app.domain.ids import IdError, id_key, parse_id
from app.streaming.replay import ReplayRing


def entry(seq: int, epoch: int = 7) -> Entry:
    event_id = f"{epoch}-{seq}"
    return Entry(event_id, f"html {event_id}".encode(), f"json {event_id}".encode())


def filled(size: int, count: int, origin: str = "7-0") -> tuple[ReplayRing, list[Entry]]:
    ring = ReplayRing(size, origin)
    entries = [entry(seq) for seq in range(1, count + 1)]
    for item in entries:
        ring.append(item)
    return ring, entries


@pytest.mark.parametrize(
    ("event_id", "key"),
    [("1700000000000-7", (1_700_000_000_000, 7)), ("0-0", (0, 0)), ("9" * 19 + "-1", (10**19 - 1, 1))],
)
def test_id_key_orders_ids_as_pairs_of_integers(event_id: str, key: tuple[int, int]) -> None:
    assert id_key(event_id) == key
    assert parse_id(event_id) == key


def test_id_order_is_numeric_not_lexical() -> None:
    # "7-10" < "7-9" as strings; the ring's bisect relies on the numeric order.
    assert id_key("7-9") < id_key("7-10") < id_key("8-0")


@pytest.mark.parametrize(
    "bad", ["", "-", "7", "7-", "-7", "a-1", "1-x", "1-²", "1-1-1", " 1-1", "1-1 ", "1-" + "9" * 20]
)
def test_anything_else_is_not_an_id(bad: str) -> None:
    with pytest.raises(IdError):
        id_key(bad)
    assert parse_id(bad) is None


def test_empty_ring_answers_its_origin_with_nothing_and_reports_it_as_last_id() -> None:
    ring = ReplayRing(5, "7-0")
    assert len(ring) == 0
    assert ring.last_id == "7-0"
    assert ring.since("7-0") == []
    assert ring.since("7-1") is None  # not sent yet: unknown, never "nothing missed"


def test_since_origin_returns_everything_kept() -> None:
    ring, entries = filled(10, 4)
    assert ring.since("7-0") == entries
    assert ring.last_id == "7-4"
    assert (len(ring), ring.size, ring.origin) == (4, 10, "7-0")


def test_since_a_kept_id_returns_exactly_what_came_after_it() -> None:
    ring, entries = filled(50, 30)
    assert ring.since("7-10") == entries[10:]
    assert ring.since("7-1") == entries[1:]
    assert ring.since("7-30") == []


@pytest.mark.parametrize(
    "unknown",
    [
        "7-31",  # newer than anything sent
        "6-3",  # another epoch (an earlier process)
        "8-3",
        "nonsense",
        "",
        "7-",
        "7-3-1",
        "7-²",
        "7-" + "9" * 5000,
    ],
)
def test_unknown_malformed_or_overlong_ids_are_not_answered(unknown: str) -> None:
    ring, _ = filled(50, 30)
    assert ring.since(unknown) is None


def test_window_keeps_the_newest_size_entries_and_moves_the_origin() -> None:
    ring, entries = filled(10, 25)
    assert (len(ring), ring.size) == (10, 10)
    assert ring.origin == "7-15"  # the newest id no longer kept
    assert ring.since("7-15") == entries[15:]  # the oldest still resumable position
    assert ring.since("7-16") == entries[16:]
    assert ring.since("7-14") is None  # trimmed: its client needs a snapshot
    assert ring.since("7-0") is None  # the first origin is gone too
    assert ring.last_id == "7-25"


@pytest.mark.parametrize("count", [19, 20, 21, 29, 30, 31, 57])
def test_compaction_keeps_every_answer_right(count: int) -> None:
    """Trimmed entries are deleted in bulk; answers must not change around that moment."""
    size = 10
    ring, entries = filled(size, count)
    kept = entries[-size:]
    assert len(ring) == size
    assert ring.origin == entries[-size - 1].id
    assert ring.since(ring.origin) == kept
    for index, item in enumerate(kept):
        assert ring.since(item.id) == kept[index + 1 :], item.id
    for item in entries[: -size - 1]:
        assert ring.since(item.id) is None, item.id


def test_a_restored_ring_starts_after_the_stored_origin() -> None:
    """A restart hands the ring the id before its oldest stored entry."""
    ring = ReplayRing(10, "7-41")
    stored = [entry(seq) for seq in range(42, 45)]
    for item in stored:
        ring.append(item)
    assert ring.since("7-41") == stored
    assert ring.last_id == "7-44"
    assert ring.since("7-42") == stored[1:]
    assert ring.since("7-40") is None

from __future__ import annotations

from app.hub import MemoryBackend


def fill(log: MemoryBackend[str], count: int) -> list[str]:
    return [log.add(lambda event_id: event_id) for _ in range(count)]


def test_ids_are_ordered_and_carry_the_epoch() -> None:
    log: MemoryBackend[str] = MemoryBackend(window=10, epoch=1234)
    assert log.last_id == "1234-0"
    ids = fill(log, 3)
    assert ids == ["1234-1", "1234-2", "1234-3"]
    assert log.last_id == "1234-3"


def test_build_receives_the_id_it_will_be_stored_under() -> None:
    log: MemoryBackend[tuple[str, str]] = MemoryBackend(window=10, epoch=7)
    entry = log.add(lambda event_id: (event_id, "payload"))
    assert entry == ("7-1", "payload")
    assert log.since("7-0") == [entry]


def test_since_returns_exactly_what_came_after() -> None:
    log: MemoryBackend[str] = MemoryBackend(window=100, epoch=1)
    ids = fill(log, 30)
    assert log.since(ids[9]) == ids[10:]
    assert log.since(ids[-1]) == []
    assert log.since("1-0") == ids


def test_window_drops_the_oldest_and_forgets_their_ids() -> None:
    log: MemoryBackend[str] = MemoryBackend(window=10, epoch=1)
    ids = fill(log, 25)
    assert log.since(ids[14]) == ids[15:]  # the oldest still resumable position
    assert log.since(ids[13]) is None  # older than the window
    assert log.since("1-0") is None


def test_unknown_or_foreign_ids_are_not_resumable() -> None:
    log: MemoryBackend[str] = MemoryBackend(window=10, epoch=1)
    fill(log, 3)
    for bad in ["", "nonsense", "2-1", "1-99", "1-", "-1", "1-x", "1-²", "1-1-1", "1-" + "9" * 5000]:
        assert log.since(bad) is None, bad

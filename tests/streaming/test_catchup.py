"""What a resuming client is sent: from the window when it can, else from the hub's log, else nothing
(a snapshot), never a gap or a repeat."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.events import Change, Entry, Event
from app.domain.model import ActivityAdded, Level
from app.streaming.catchup import catch_up
from app.streaming.replay import ReplayRing
from tests.support.fakes import FakeEventLog

pytestmark = pytest.mark.anyio


def entry(event_id: str) -> Entry:
    return Entry(event_id, f"html {event_id}".encode(), f"json {event_id}".encode())


def event(event_id: str) -> tuple[Event, Change]:
    """An event as the hub's log returns it, with what it did to the state."""
    return Event(event_id, ActivityAdded(event_id, "m", None, Level.info, 1.0)), Change(True)


def encode(event: Event, change: Change) -> Entry:
    """Stands in for the frame encoder: the past is told apart from what the window kept."""
    return Entry(event.id, f"encoded {event.id} {change.created}".encode(), b"")


def ring_of(origin: str, *ids: str, size: int = 10) -> ReplayRing:
    ring = ReplayRing(size, origin)
    for event_id in ids:
        ring.append(entry(event_id))
    return ring


def still_here() -> bool:
    return False


def gone() -> bool:
    return True


@pytest.mark.parametrize("last_id", [None, ""])
async def test_no_id_gets_none_without_asking_the_hub(last_id: str | None) -> None:
    log = FakeEventLog(past=[event("7-1")])
    ring = ring_of("7-0", "7-1")
    assert await catch_up(last_id, ring, log, lambda: "7-1", encode, still_here) is None
    assert log.asked == []


async def test_an_id_in_the_window_is_answered_from_it_without_asking_the_hub() -> None:
    log = FakeEventLog()
    ring = ring_of("7-0", "7-1", "7-2", "7-3")
    assert await catch_up("7-1", ring, log, lambda: "7-3", encode, still_here) == [entry("7-2"), entry("7-3")]
    assert await catch_up("7-3", ring, log, lambda: "7-3", encode, still_here) == []
    assert log.asked == []


async def test_an_id_newer_than_this_process_waits_until_it_is_delivered_then_reads_the_window() -> None:
    """The client came from a process that is ahead: an older snapshot now would repeat events."""
    log = FakeEventLog(held=True)
    ring = ring_of("7-0", "7-1")
    version = ["7-1"]
    task = asyncio.create_task(catch_up("7-3", ring, log, lambda: version[0], encode, still_here))
    await log.until(lambda: log.asked == [("caught_up", "7-3")])
    for event_id in ("7-2", "7-3", "7-4"):  # what this process delivers meanwhile
        ring.append(entry(event_id))
        version[0] = event_id
    log.release()
    assert await task == [entry("7-4")]
    assert log.asked == [("caught_up", "7-3")]


async def test_a_client_gone_while_waiting_to_catch_up_gets_none() -> None:
    log = FakeEventLog(held=True)
    ring = ring_of("7-0", "7-1")
    left = [False]
    task = asyncio.create_task(catch_up("7-3", ring, log, lambda: "7-1", encode, lambda: left[0]))
    await log.until(lambda: log.asked == [("caught_up", "7-3")])
    ring.append(entry("7-2"))
    ring.append(entry("7-3"))
    left[0] = True
    log.release()
    assert await task is None
    assert log.asked == [("caught_up", "7-3")]


async def test_an_id_newer_than_this_process_that_never_arrives_is_asked_of_the_log() -> None:
    """An id from another epoch the window never holds: after waiting, the log has the last word."""
    log = FakeEventLog(past=None)
    ring = ring_of("7-0", "7-1")
    assert await catch_up("9-1", ring, log, lambda: "7-1", encode, still_here) is None
    assert log.asked == [("caught_up", "9-1"), ("older", "9-1")]


async def test_an_id_older_than_the_window_gets_the_encoded_past_and_then_the_window() -> None:
    log = FakeEventLog(past=[event("7-3"), event("7-4")])
    ring = ring_of("7-4", "7-5", "7-6")
    missed = await catch_up("7-2", ring, log, lambda: "7-6", encode, still_here)
    assert missed == [
        Entry("7-3", b"encoded 7-3 True", b""),
        Entry("7-4", b"encoded 7-4 True", b""),
        entry("7-5"),
        entry("7-6"),
    ]
    assert log.asked == [("older", "7-2")]


async def test_an_id_older_than_the_window_that_the_hub_does_not_keep_gets_none() -> None:
    log = FakeEventLog(past=None)
    ring = ring_of("7-4", "7-5")
    assert await catch_up("7-2", ring, log, lambda: "7-5", encode, still_here) is None
    assert log.asked == [("older", "7-2")]


async def test_a_client_gone_while_the_hub_reads_the_past_gets_none() -> None:
    log = FakeEventLog(past=[event("7-3"), event("7-4")])
    ring = ring_of("7-4", "7-5")
    assert await catch_up("7-2", ring, log, lambda: "7-5", encode, gone) is None
    assert log.asked == [("older", "7-2")]


async def test_a_window_that_moved_past_the_hubs_answer_gets_none_rather_than_a_gap() -> None:
    """Events delivered while the hub was read may push the past's last id out of the window."""
    log = FakeEventLog(past=[event("7-3"), event("7-4")], held=True)
    ring = ring_of("7-4", "7-5", size=2)
    task = asyncio.create_task(catch_up("7-2", ring, log, lambda: "7-5", encode, still_here))
    await log.until(lambda: log.asked == [("older", "7-2")])
    ring.append(entry("7-6"))
    ring.append(entry("7-7"))  # the window is 7-6, 7-7 now: 7-5 would be missing
    log.release()
    assert await task is None


async def test_an_empty_past_with_nothing_in_the_window_after_the_id_gets_none() -> None:
    log = FakeEventLog(past=[])
    ring = ring_of("7-4", "7-5")
    assert await catch_up("7-2", ring, log, lambda: "7-5", encode, still_here) is None

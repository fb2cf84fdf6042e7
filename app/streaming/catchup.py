"""What a resuming client missed since its `Last-Event-ID`, or None when only a snapshot will do.

The replay window answers almost every resume with no I/O. Two cases need the hub's log
(Redis): an id newer than this process has delivered (the client was on a process that is
ahead: wait until ours catches up, rather than answer with an older snapshot and then repeat
what the client has), and an id older than the window (read the gap back, then the window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.domain.events import Change, Entry, Event
from app.domain.ids import is_newer
from app.streaming.replay import ReplayRing


class EventLog(Protocol):
    """The two things catch-up asks of a hub."""

    async def older(self, event_id: str) -> list[tuple[Event, Change]] | None:
        """Events after `event_id` that the window no longer holds, if the hub keeps them."""
        ...

    async def caught_up(self, event_id: str) -> None:
        """Return once this process has delivered `event_id` (or soon, if it never will)."""
        ...


async def catch_up(
    last_id: str | None,
    ring: ReplayRing,
    log: EventLog,
    version: Callable[[], str],
    encode: Callable[[Event, Change], Entry],
    gone: Callable[[], bool],
) -> list[Entry] | None:
    """The entries after `last_id`, oldest first; None when they cannot all be had.

    `version()` is the newest id this process has delivered; `gone()` says the client left
    while we awaited the hub (its answer is then of no use).
    """
    if not last_id:
        return None
    missed = ring.since(last_id)
    if missed is None and is_newer(last_id, version()):
        await log.caught_up(last_id)
        if gone():
            return None
        missed = ring.since(last_id)
    if missed is not None:
        return missed
    past = await log.older(last_id)
    if past is None or gone():
        return None
    tail = ring.since(past[-1][0].id if past else last_id)
    if tail is None:
        return None
    return [encode(event, change) for event, change in past] + tail

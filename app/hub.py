"""The hub's event log: opaque ordered ids and the replay window behind `Last-Event-ID`.

A backend owns ids and retention; the in-process one below is the embedded default. Ids
look like Redis Stream ids (`<epoch>-<seq>`) so that clients never depend on which backend
produced them; the epoch is the boot time in ms, so an id from an earlier process is
recognised as unknown (and answered with a snapshot) instead of being misread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Backend(Protocol[T]):
    """Where events live: the hub asks it for ids, appends, and replays."""

    @property
    def last_id(self) -> str:
        """Id of the newest event, or of the empty log's origin."""
        ...

    def add(self, build: Callable[[str], T]) -> T:
        """Give the next event its id, let `build` make the record (frames carry the id), keep it."""
        ...

    def since(self, event_id: str) -> list[T] | None:
        """Everything after `event_id`, oldest first; None if the id is unknown or too old."""
        ...


class MemoryBackend(Generic[T]):
    """Keeps the last `window` events in a deque; ids are dense within one process."""

    def __init__(self, window: int, epoch: int | None = None) -> None:
        self._epoch = epoch if epoch is not None else time.time_ns() // 1_000_000
        self._entries: deque[T] = deque()
        self._window = window
        # seq of the position just before the oldest kept entry: resuming from it is valid.
        self._origin = 0
        self._last = 0

    @property
    def last_id(self) -> str:
        return self._format(self._last)

    def add(self, build: Callable[[str], T]) -> T:
        item = build(self._format(self._last + 1))
        self._last += 1
        self._entries.append(item)
        if len(self._entries) > self._window:
            self._entries.popleft()
            self._origin += 1
        return item

    def since(self, event_id: str) -> list[T] | None:
        seq = self._parse(event_id)
        if seq is None or not self._origin <= seq <= self._last:
            return None
        return list(islice(self._entries, seq - self._origin, None))

    def _format(self, seq: int) -> str:
        return f"{self._epoch}-{seq}"

    def _parse(self, event_id: str) -> int | None:
        epoch, sep, seq = event_id.partition("-")
        if not sep or epoch != str(self._epoch) or not (seq.isascii() and seq.isdigit()) or len(seq) > 19:
            return None
        return int(seq)

"""The replay window every process keeps in memory: encoded events by id, for `Last-Event-ID`.

Whatever the backend, a resuming client is served from here when the window
holds its id, so a reconnect costs no I/O; only older ids go back to the backend.
"""

from __future__ import annotations

from bisect import bisect_left

from app.domain.events import Entry
from app.domain.ids import IdKey, id_key, parse_id


class ReplayRing:
    """The newest `size` entries, oldest first, and the id just before the oldest (`origin`).

    Resuming from `origin` or from any kept id is exact; anything else is unknown here.
    """

    def __init__(self, size: int, origin: str) -> None:
        self.size = size
        self._entries: list[Entry] = []
        self._keys: list[IdKey] = []
        self._start = 0  # entries before it are trimmed; compacted in bulk, not per append
        self.origin = origin

    def __len__(self) -> int:
        return len(self._entries) - self._start

    @property
    def last_id(self) -> str:
        """Id of the newest entry, or `origin` when empty."""
        return self._entries[-1].id if len(self) else self.origin

    def append(self, entry: Entry) -> None:
        """Keep `entry` (its id must be newer than every kept one)."""
        self._entries.append(entry)
        self._keys.append(id_key(entry.id))
        if len(self) > self.size:
            self.origin = self._entries[self._start].id
            self._start += 1
            if self._start >= self.size:
                del self._entries[: self._start]
                del self._keys[: self._start]
                self._start = 0

    def since(self, event_id: str) -> list[Entry] | None:
        """Entries after `event_id`, oldest first; None when the ring cannot answer exactly."""
        if event_id == self.origin:
            return self._entries[self._start :]
        key = parse_id(event_id)
        if key is None:
            return None
        index = bisect_left(self._keys, key, self._start)
        if index == len(self._keys) or self._keys[index] != key:
            return None
        return self._entries[index + 1 :]

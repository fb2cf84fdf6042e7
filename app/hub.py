"""The hub: where events get their ids and are kept, and how they reach this process.

A backend appends facts and hands every committed event, in id order, to the process's
`Sink` (the dashboard), which folds it into the state, encodes it once and fans it out.
- `EmbeddedHub` (the default) numbers events itself and delivers them at once, within
  `append`; with a `SqliteStore` it also persists them, so a restart resumes where it was.
- `RedisHub` (app/redis_hub.py) appends to a Redis Stream; every process reads the stream and
  delivers what it reads, so ingest at any process reaches the clients of all of them.

Ids look like Redis Stream ids (`<major>-<minor>`) whichever backend made them.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Sequence
from typing import Any, NamedTuple, Protocol

from app.frames import Entry
from app.model import Fact
from app.state import StateData
from app.store import SqliteStore

Record = tuple[str, Fact]
"""An event as the hub commits it: its id and the fact."""


class Past(NamedTuple):
    """An event read back from the backend's log, with what rendering it needs without state."""

    id: str
    fact: Fact
    created: bool
    """It added a card or a banner."""
    previous: float | None
    """For a metric: the value before it (the trend arrow)."""


class HubUnavailable(RuntimeError):
    """The backend cannot take events right now; nothing of the request was recorded."""


class Sink(Protocol):
    """The receiving end of a hub: the dashboard of this process."""

    def restore(self, state: StateData | None, entries: Sequence[Entry], origin: str) -> None:
        """Start from a stored state and replay window (`origin` is the id before them)."""
        ...

    def deliver(self, records: Sequence[Record]) -> list[Entry]:
        """Apply, encode and fan out committed events, in order."""
        ...

    def state_data(self) -> StateData:
        """The current state, for persisting."""
        ...


class Hub(Protocol):
    """What the dashboard needs from a backend."""

    kind: str
    """`memory`, `sqlite` or `redis`, as /readyz reports it."""

    async def start(self, sink: Sink) -> None:
        """Load the stored state into `sink`; deliveries go to it from now on."""
        ...

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        """Commit `facts` in order and return their ids; `HubUnavailable` if it cannot."""
        ...

    async def older(self, event_id: str) -> list[Past] | None:
        """Events after `event_id` that the in-memory window no longer holds, if the backend can."""
        ...

    async def caught_up(self, event_id: str) -> None:
        """Return once this process has delivered `event_id` (or soon, if it never will)."""
        ...

    @property
    def problem(self) -> str | None:
        """Why the hub is not ready (for /readyz), or None."""
        ...

    def check_accepting(self) -> None:
        """Raise `HubUnavailable` when an append would fail now (so nothing is taken on)."""
        ...

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Work to run for the app's lifetime (readers, writers)."""
        ...

    async def close(self) -> None:
        """Flush and release everything."""
        ...


class EmbeddedHub:
    """Ids `<epoch>-<seq>` from a counter in this process; optionally persisted in SQLite."""

    def __init__(self, store: SqliteStore | None = None, epoch: int | None = None) -> None:
        self._store = store
        self.kind = "sqlite" if store else "memory"
        self._epoch = epoch if epoch is not None else time.time_ns() // 1_000_000
        self._seq = 0
        self._sink: Sink | None = None

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        if self._store is None:
            sink.restore(None, [], f"{self._epoch}-0")
            return
        stored = await self._store.open(sink.state_data)
        self._epoch, self._seq = stored.epoch, stored.last_seq
        first = stored.entries[0].id.partition("-")[2] if stored.entries else None
        origin = f"{self._epoch}-{int(first) - 1 if first else self._seq}"
        sink.restore(stored.state, stored.entries, origin)

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        assert self._sink is not None, "start() first"
        start = self._seq + 1
        records = [(f"{self._epoch}-{seq}", fact) for seq, fact in enumerate(facts, start)]
        self._seq += len(records)
        entries = self._sink.deliver(records)
        if self._store is not None:
            self._store.add(list(enumerate(entries, start)))
        return [event_id for event_id, _ in records]

    async def older(self, event_id: str) -> list[Past] | None:
        return None  # the in-memory window is the whole window

    async def caught_up(self, event_id: str) -> None:
        return None  # events are delivered within `append`: nothing is ever on its way

    @property
    def problem(self) -> str | None:
        return self._store.error if self._store else None

    def check_accepting(self) -> None:
        return None  # a failing disk write is retried from memory: events still go out

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._store.run()] if self._store else []

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

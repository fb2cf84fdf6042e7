"""The embedded hub, the default: one process numbers its events and delivers them at once.

Ids are `<epoch>-<seq>`. With a `SqliteStore` every delivered event is also kept on disk,
with the state, so a restart resumes where it was and ids keep increasing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import msgspec

from app.domain.events import Change, Event
from app.domain.ids import format_id, id_key
from app.domain.model import FACT_KINDS, Fact
from app.domain.viewers import ViewerLink
from app.hubs.base import Lease, Sink
from app.hubs.sqlite import SqliteStore


class EmbeddedHub:
    """Ids `<epoch>-<seq>` from a counter in this process; optionally persisted in SQLite."""

    def __init__(self, store: SqliteStore | None = None, epoch: int | None = None) -> None:
        self._store = store
        self.kind = "sqlite" if store else "memory"
        self._epoch = epoch if epoch is not None else time.time_ns() // 1_000_000
        self._seq = 0
        self._sink: Sink | None = None
        self._links: dict[str, ViewerLink] = {}  # without a store: this process's only

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        if self._store is None:
            sink.restore(None, [], format_id(self._epoch, 0))
            return
        stored = await self._store.open(sink.state_data, sink.history.take_changes)
        sink.history.restore(stored.history)
        self._epoch, self._seq = stored.epoch, stored.last_seq
        before_first = id_key(stored.entries[0].id)[1] - 1 if stored.entries else self._seq
        sink.restore(stored.state, stored.entries, format_id(self._epoch, before_first))

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        assert self._sink is not None, "start() first"
        for fact in facts:  # before any id is taken: a refused batch records nothing
            if not isinstance(fact, FACT_KINDS):
                raise TypeError(f"unknown fact {fact!r}")
        start = self._seq + 1
        events = [Event(format_id(self._epoch, seq), fact) for seq, fact in enumerate(facts, start)]
        self._seq += len(events)
        entries = self._sink.deliver(events)
        if self._store is not None:
            self._store.add(list(enumerate(entries, start)))
        return [event.id for event in events]

    async def older(self, event_id: str) -> list[tuple[Event, Change]] | None:
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

    def telemetry(self) -> dict[str, float]:
        if self._store is None:
            return {}
        return {"commits": self._store.commits, "commit_seconds": self._store.commit_seconds}

    def lease(self, name: str, seconds: float, on_change: Callable[[bool], None]) -> Lease | None:
        return None  # one process per hub: it runs everything itself

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    # --- viewer links: in the SQLite file, or in memory without one -----------------------

    async def add_link(self, link: ViewerLink) -> None:
        if self._store is not None:
            await self._store.add_link(link)
        else:
            self._links[link.id] = link

    async def get_link(self, link_id: str) -> ViewerLink | None:
        if self._store is not None:
            return await self._store.get_link(link_id)
        return self._links.get(link_id)

    async def list_links(self) -> list[ViewerLink]:
        if self._store is not None:
            return await self._store.list_links()
        return sorted(self._links.values(), key=lambda link: link.created_at)

    async def remove_link(self, link_id: str) -> bool:
        if self._store is not None:
            return await self._store.remove_link(link_id)
        return self._links.pop(link_id, None) is not None

    async def link_seen(self, link_id: str, at: float) -> None:
        if self._store is not None:
            await self._store.link_seen(link_id, at)
        elif link_id in self._links:
            self._links[link_id] = msgspec.structs.replace(self._links[link_id], last_seen=at)

    async def link_streams(self, mine: Mapping[str, int]) -> dict[str, int]:
        return dict(mine)  # one process per hub: its streams are all there are

"""The hub: where events get their ids and are kept, and how they reach this process.

A backend appends facts and hands every committed event, in id order, to the process's
`Sink` (the dashboard), which folds it into the state, encodes it once and fans it out.
- `EmbeddedHub` (app/hubs/embedded.py, the default) numbers events itself and delivers them
  at once, within `append`; with a `SqliteStore` (app/hubs/sqlite.py) it also persists them,
  so a restart resumes where it was.
- `RedisHub` (app/hubs/redis.py) appends to a Redis Stream; every process reads the stream and
  delivers what it reads, so ingest at any process reaches the clients of all of them.

Ids look like Redis Stream ids (`<major>-<minor>`, app/domain/ids.py) whichever backend made them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from app.domain.events import Change, Entry, Event
from app.domain.history import History
from app.domain.model import Fact
from app.domain.state import StateData
from app.domain.viewers import ViewerLink


class HubUnavailable(RuntimeError):
    """The backend cannot take events right now; nothing of the request was recorded."""


class Sink(Protocol):
    """The receiving end of a hub: the dashboard of this process."""

    history: History
    """Every card's history, folded by `deliver`; a hub that stores it restores it at start
    and writes what changed (`History.take_changes`)."""

    def restore(self, state: StateData | None, entries: Sequence[Entry], origin: str) -> None:
        """Start from a stored state and replay window (`origin` is the id before them)."""
        ...

    def deliver(self, events: Sequence[Event]) -> list[Entry]:
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

    async def older(self, event_id: str) -> list[tuple[Event, Change]] | None:
        """Events after `event_id` that the in-memory window no longer holds, with what each
        did to the state (to render them without it), if the backend can."""
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

    def telemetry(self) -> dict[str, float]:
        """Figures for /metrics, by name: `commits` and `commit_seconds` (SQLite),
        `reader_lag_seconds` (Redis). Cheap: read at scrape time only."""
        ...

    def lease(self, name: str, seconds: float, on_change: Callable[[bool], None]) -> Lease | None:
        """A lease shared by every process on this hub, or None when this process is the only
        one (it then always holds it)."""
        ...

    async def close(self) -> None:
        """Flush and release everything."""
        ...

    # Viewer links live with the events, so every process (and a restart) knows the same ones.

    async def add_link(self, link: ViewerLink) -> None:
        """Keep a new viewer link."""
        ...

    async def get_link(self, link_id: str) -> ViewerLink | None:
        """The link by that id, or None (never made, or revoked)."""
        ...

    async def list_links(self) -> list[ViewerLink]:
        """Every link, oldest first."""
        ...

    async def remove_link(self, link_id: str) -> bool:
        """Revoke a link; False if there was none by that id."""
        ...

    async def link_seen(self, link_id: str, at: float) -> None:
        """Record that a browser of the link was here at `at`."""
        ...

    async def link_streams(self, mine: Mapping[str, int]) -> dict[str, int]:
        """Report this process's open streams per link; the totals over every process."""
        ...


class Lease(Protocol):
    """The right to run something once per deployment; `on_change` hears when it is won or lost."""

    async def run(self) -> None:
        """Take, keep or wait for the lease until cancelled or released."""
        ...

    async def release(self) -> None:
        """Give it up for good (shutdown), so another process need not wait for it to lapse."""
        ...

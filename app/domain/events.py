"""The nouns an event is known by between the hub and the wire.

- `Fact` (app/domain/model.py): what a source says happened; it has no id yet.
- `Event`: a fact the hub committed, with its id.
- `Change`: what folding an event into the state did (it created a card or a banner; the
  value it replaced), which is all rendering needs besides the state itself. The Redis hub
  stores it with every event, so any process renders any event, live or replayed, the same.
- `Entry`: an event encoded once, into the bytes of both streams, as the replay window and
  the SQLite file keep it.

No rendering here: the hubs store entries without knowing how they were made.
"""

from __future__ import annotations

from typing import NamedTuple

from app.domain.model import Fact


class Event(NamedTuple):
    """A committed fact and its id."""

    id: str
    fact: Fact


class Change(NamedTuple):
    """What one event did to the state."""

    created: bool
    """It added a card or a banner (or, for a resolve or a removal, removed one that was there;
    for a stale mark, marked the card's newest point stale)."""
    previous: float | None = None
    """For a metric: the value it replaced (the trend arrow)."""


class Entry(NamedTuple):
    """One event encoded: its id and the frame each stream sends."""

    id: str
    html: bytes
    json: bytes
    key: str | None = None
    """Conflation key: a newer frame with the same key supersedes this one for a lagging client."""

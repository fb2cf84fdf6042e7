"""Event ids: `<major>-<minor>`, shaped like Redis Stream ids whichever hub made them.

Ids order as a pair of integers. This module is the only place that writes or reads one, so
the embedded hub, the SQLite file, Redis and the replay window can never disagree on it.
"""

from __future__ import annotations

IdKey = tuple[int, int]
"""An id as the integer pair it orders by."""

_MAX_DIGITS = 19  # ids are two 64-bit numbers; anything longer is not one of ours


class IdError(ValueError):
    """Not an event id of ours."""


def format_id(major: int, minor: int) -> str:
    """`(1700000000000, 7)` -> `"1700000000000-7"`."""
    return f"{major}-{minor}"


def id_key(event_id: str) -> IdKey:
    """`"1700000000000-7"` -> `(1700000000000, 7)`, for ordering; `IdError` if malformed."""
    major, sep, minor = event_id.partition("-")
    for part in (major, minor):
        if not (part.isascii() and part.isdigit()) or len(part) > _MAX_DIGITS:
            raise IdError(event_id)
    if not sep:
        raise IdError(event_id)
    return int(major), int(minor)


def parse_id(event_id: str) -> IdKey | None:
    """`id_key`, or None for anything that is not an id (a client's header may be anything)."""
    try:
        return id_key(event_id)
    except IdError:
        return None


def is_newer(event_id: str, than: str) -> bool:
    """True when both are ids and `event_id` comes after `than`."""
    key, other = parse_id(event_id), parse_id(than)
    return key is not None and other is not None and key > other

"""What users send and what the dashboard records: msgspec structs, validated on decode.

Ingest bodies are checked here in full before anything is applied, so a bad point in a
batch rejects the whole batch (nothing half-applied). Events are the facts the hub keeps in
its replay window and the state folds into current values.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import msgspec

# `(?!\n)`: Python's `$` also matches before a trailing newline, and "a\n" must not pass.
# (JavaScript, reading this pattern from the OpenAPI schema, needs no such guard.)
NAME_PATTERN = r"^[a-z0-9_.-]{1,64}(?!\n)$"

MetricName = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Lower-case letters, digits, '_', '.' or '-'; 1 to 64 of them.",
        examples=["page_views"],
    ),
]
AlertId = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Caller-chosen id; posting it again replaces the alert.",
        examples=["db-latency"],
    ),
]
Timestamp = Annotated[
    float,
    msgspec.Meta(ge=0, le=32503680000, description="Unix time in seconds (may be fractional)."),
]


class Severity(StrEnum):
    """How loud an alert banner is; also its CSS class."""

    info = "info"
    warning = "warning"
    critical = "critical"


class Level(StrEnum):
    """Tone of an activity line."""

    info = "info"
    success = "success"
    warning = "warning"
    error = "error"


def _require_finite(value: float, field: str) -> None:
    # JSON has no NaN or Infinity, but 1e999 decodes to inf: reject it by name.
    if not math.isfinite(value):
        raise ValueError(f"`{field}` must be a finite number")


class MetricPoint(msgspec.Struct, forbid_unknown_fields=True):
    """One reading of one metric."""

    name: MetricName
    value: float
    ts: Timestamp | None = None

    def __post_init__(self) -> None:
        _require_finite(self.value, "value")


class ActivityIn(msgspec.Struct, forbid_unknown_fields=True):
    """A line for the activity feed."""

    message: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    actor: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    level: Level = Level.info


RULE_PREFIX = "rule-"
"""Alert ids the dashboard file's rules use (`rule-<metric>`); the API refuses them, so a rule
never replaces or resolves an alert that a person or program raised."""


class AlertIn(msgspec.Struct, forbid_unknown_fields=True):
    """An alert to raise, or to replace when its id is already open."""

    id: AlertId
    severity: Severity
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    message: Annotated[str, msgspec.Meta(max_length=1000)] | None = None

    def __post_init__(self) -> None:
        if self.id.startswith(RULE_PREFIX):
            raise ValueError(f"`id` must not start with {RULE_PREFIX!r}: those are the alert rules' own")


# --- events: what the hub records, in order -------------------------------------------


class MetricUpdated(msgspec.Struct, tag="metric", frozen=True):
    """A metric took a new value."""

    name: str
    value: float
    ts: float


class ActivityAdded(msgspec.Struct, tag="activity", frozen=True):
    """A line was added to the feed."""

    key: str
    message: str
    actor: str | None
    level: Level
    ts: float


class AlertRaised(msgspec.Struct, tag="alert", frozen=True):
    """An alert opened, or an open one changed."""

    id: str
    severity: Severity
    title: str
    message: str | None
    ts: float


class AlertResolved(msgspec.Struct, tag="alert-resolved", frozen=True):
    """An alert closed."""

    id: str
    ts: float


class MetricStale(msgspec.Struct, tag="metric-stale", frozen=True):
    """A card got no point for its `stale_after`: it now shows its last value as stale.

    It repeats the point it refers to (`value`, `ts`) and the value before it, so the card
    renders from the event alone (a replay has no state), and folds only while that point is
    still the card's newest: a point that arrived meanwhile wins.
    """

    name: str
    value: float
    ts: float
    previous: float | None = None


class MetricRemoved(msgspec.Struct, tag="metric-removed", frozen=True):
    """A card was removed (`DELETE /api/metrics/{name}`)."""

    name: str
    ts: float


Fact = MetricUpdated | ActivityAdded | AlertRaised | AlertResolved | MetricStale | MetricRemoved


FACT_KINDS: tuple[type, ...] = (
    MetricUpdated,
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    MetricStale,
    MetricRemoved,
)
"""Every kind of fact, for hubs that refuse a batch holding anything else before recording any of it."""

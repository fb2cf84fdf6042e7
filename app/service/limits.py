"""Caps on what ingest may create, so a typo loop cannot grow the page and the process forever."""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.state import DashboardState


class LimitReached(ValueError):
    """A new card or banner would pass `max_metrics` / `max_alerts`; nothing was applied."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_new_metrics(state: DashboardState, names: Iterable[str], most: int) -> None:
    """Refuse a batch whose new names would take the cards past `most`."""
    new = set(names) - state.metrics.keys()
    if new and len(state.metrics) + len(new) > most:
        raise LimitReached(
            "name",
            f"at most {most} metrics (LIVEDASH_MAX_METRICS); {len(new)} new name(s) in this batch,"
            f" e.g. {min(new)!r}",
        )


def check_new_alert(state: DashboardState, alert_id: str, most: int) -> None:
    """Refuse to open one more banner past `most` (replacing an open one is always fine)."""
    if alert_id not in state.alerts and len(state.alerts) >= most:
        raise LimitReached("id", f"at most {most} open alerts (LIVEDASH_MAX_ALERTS); resolve some first")

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


FUTURE_SLACK = 60.0
"""Seconds a point's `ts` may be ahead of the server's clock (clocks differ a little)."""


def check_not_future(stamps: Iterable[float], now: float) -> None:
    """Refuse a batch with a `ts` far in the future: it would pin "updated at" and keep its card
    fresh (never stale) until that time."""
    latest = max(stamps, default=None)
    if latest is not None and latest > now + FUTURE_SLACK:
        raise LimitReached(
            "ts",
            f"{latest:.3f} is {latest - now:.0f} s ahead of the server's clock ({now:.3f});"
            f" at most {FUTURE_SLACK:.0f} s ahead is accepted",
        )

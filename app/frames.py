"""Each event encoded once into the bytes of both streams: HTML fragments and JSON.

The HTML event name says which element swaps the fragment in (see templates/pages/
dashboard.html). An event for one element is named exactly like its DOM id: `metric-<name>`
for a card, `alert-<id>` for a banner. Events for a container start with another word, so no
metric or alert name can ever collide with them: `new-metric` for the grid, `activity` for
the feed, `new-alert` for the alerts region, and `snapshot` and `resolved-alert` for a hidden
receiver whose data is out-of-band swaps only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from app import sse
from app.model import ActivityAdded, AlertRaised, AlertResolved, Fact, MetricUpdated
from app.render import Renderer, json_number
from app.state import DashboardState, MetricValue


class Entry(NamedTuple):
    """One event as the hub keeps it: its id and the frame each stream sends."""

    id: str
    html: bytes
    json: bytes
    key: str | None = None
    """Conflation key: a newer frame with the same key supersedes this one for a lagging client."""


_json = msgspec.json.Encoder()


def _json_frame(event: str, event_id: str, payload: Any) -> bytes:
    return sse.frame(_json.encode(payload).decode(), event=event, id=event_id)


def fact_payload(fact: Fact) -> tuple[str, dict[str, Any]]:
    """Event name and body of a fact on the JSON stream."""
    if isinstance(fact, MetricUpdated):
        return "metric-update", {"metric": fact.name, "value": json_number(fact.value), "ts": fact.ts}
    if isinstance(fact, ActivityAdded):
        return "activity", {
            "id": fact.key,
            "message": fact.message,
            "actor": fact.actor,
            "level": fact.level.value,
            "ts": fact.ts,
        }
    if isinstance(fact, AlertRaised):
        return "alert", {
            "id": fact.id,
            "severity": fact.severity.value,
            "title": fact.title,
            "message": fact.message,
            "ts": fact.ts,
        }
    return "alert-resolved", {"id": fact.id, "ts": fact.ts}


class FrameEncoder:
    """Turns facts and state into `Entry` frames, using the one set of partials."""

    def __init__(self, renderer: Renderer) -> None:
        self._render = renderer.render

    def encode(self, event_id: str, fact: Fact, created: bool, metric: MetricValue | None) -> Entry:
        """Frames for `fact`; `created` says it adds a card or banner, `metric` is the card's value."""
        name, html = self._html(fact, created, metric)
        event, payload = fact_payload(fact)
        # A card's later updates supersede each other; its first event adds the card, so it stays.
        key = fact.name if isinstance(fact, MetricUpdated) and not created else None
        return Entry(
            event_id, sse.frame(html, event=name, id=event_id), _json_frame(event, event_id, payload), key
        )

    def _html(self, fact: Fact, created: bool, metric: MetricValue | None) -> tuple[str, str]:
        if isinstance(fact, MetricUpdated):
            html = self._render("partials/metric_card.html", metric=metric)
            return ("new-metric" if created else f"metric-{fact.name}"), html
        if isinstance(fact, ActivityAdded):
            return "activity", self._render("partials/activity_item.html", item=fact)
        if isinstance(fact, AlertRaised):
            html = self._render("partials/alert_banner.html", alert=fact)
            return ("new-alert" if created else f"alert-{fact.id}"), html
        if isinstance(fact, AlertResolved):
            return "resolved-alert", self._render("partials/resolved_alert.html", alert_id=fact.id)
        raise TypeError(f"unknown fact {fact!r}")

    def snapshot(self, state: DashboardState) -> Entry:
        """The whole current state as one event, for clients the replay window cannot serve."""
        html = self._render("partials/snapshot.html", state=state)
        payload = {
            "metrics": [
                {"metric": m.name, "value": json_number(m.value), "ts": m.ts} for m in state.metrics.values()
            ],
            "activity": [fact_payload(item)[1] for item in state.feed],
            "alerts": [fact_payload(alert)[1] for alert in state.open_alerts()],
        }
        return Entry(
            state.version,
            sse.frame(html, event="snapshot", id=state.version),
            _json_frame("snapshot", state.version, payload),
        )

    def heartbeat(self, event_id: str, ts: float) -> Entry:
        """A named `heartbeat` repeating the latest id, so the page knows the line is alive."""
        return Entry(
            event_id,
            sse.frame(f"{ts:.3f}", event="heartbeat", id=event_id),
            _json_frame("heartbeat", event_id, {"ts": ts}),
        )

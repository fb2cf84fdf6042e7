"""Each event encoded once into the bytes of both streams: HTML fragments and JSON.

The HTML event name says which element swaps the fragment in (see templates/pages/
dashboard.html). An event for one element is named exactly like its DOM id: `metric-<name>`
for a card, `alert-<id>` for a banner. Events for a container start with another word, so no
metric or alert name can ever collide with them: `new-metric` for the grid, `activity` for
the feed, `new-alert` for the alerts region, and `snapshot`, `resolved-alert` and
`removed-metric` for a hidden receiver whose data is out-of-band swaps only. A card the
dashboard file places in a section is on the page before its first point (a placeholder), so
even its first point is `metric-<name>`.

A card's `data-state` (ok, warning, critical, stale) is decided here, at render time, from
the event and the dashboard file only, so every process and every replay says the same.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.domain.board import Board
from app.domain.events import Change, Entry, Event
from app.domain.history import History
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
)
from app.domain.state import DashboardState, MetricValue
from app.streaming import sse
from app.streaming.render import Renderer, json_number

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
    if isinstance(fact, AlertResolved):
        return "alert-resolved", {"id": fact.id, "ts": fact.ts}
    if isinstance(fact, MetricStale):
        return "metric-stale", {"metric": fact.name, "ts": fact.ts}
    if isinstance(fact, MetricRemoved):
        return "metric-removed", {"metric": fact.name, "ts": fact.ts}
    raise TypeError(f"unknown fact {fact!r}")


SUPERSEDED = "superseded"
"""The event of a stale mark that a newer point beat to the hub: it changed nothing (with
Redis, the process that timed it out could not see that point yet). No element listens."""


class FrameEncoder:
    """Turns facts and state into `Entry` frames, using the one set of partials."""

    def __init__(
        self, renderer: Renderer, board: Board | None = None, history: History | None = None
    ) -> None:
        self._render = renderer.render
        self.board = board or Board()
        self.history = history or History()
        self._placed = self.board.placed()

    def encode(self, event: Event, change: Change) -> Entry:
        """Both frames of `event`, whose `change` says whether it adds a card or banner."""
        event_id, fact = event
        if isinstance(fact, MetricStale) and not change.created:
            body = {"metric": fact.name, "ts": fact.ts}
            return Entry(
                event_id,
                sse.frame(fact.name, event=SUPERSEDED, id=event_id),
                _json_frame(SUPERSEDED, event_id, body),
            )
        name, html = self._html(fact, change)
        json_name, payload = fact_payload(fact)
        # A card's later frames supersede each other (a stale mark carries its point); its
        # first event adds the card, so it stays.
        key = None
        if isinstance(fact, MetricStale) or (isinstance(fact, MetricUpdated) and not change.created):
            key = fact.name
        return Entry(
            event_id, sse.frame(html, event=name, id=event_id), _json_frame(json_name, event_id, payload), key
        )

    def _html(self, fact: Fact, change: Change) -> tuple[str, str]:
        created = change.created
        if isinstance(fact, MetricUpdated):
            metric = MetricValue(fact.name, fact.value, fact.ts, change.previous)
            html = self._card(metric)
            new = created and fact.name not in self._placed
            return ("new-metric" if new else f"metric-{fact.name}"), html
        if isinstance(fact, MetricStale):
            html = self._card(MetricValue(fact.name, fact.value, fact.ts, fact.previous, stale=True))
            return f"metric-{fact.name}", html
        if isinstance(fact, MetricRemoved):
            html = self._render(
                "partials/removed_metric.html",
                name=fact.name,
                placed=fact.name in self._placed,
                board=self.board,
                metric=None,
            )
            return "removed-metric", html
        if isinstance(fact, ActivityAdded):
            return "activity", self._render("partials/activity_item.html", item=fact)
        if isinstance(fact, AlertRaised):
            html = self._render("partials/alert_banner.html", alert=fact)
            return ("new-alert" if created else f"alert-{fact.id}"), html
        if isinstance(fact, AlertResolved):
            return "resolved-alert", self._render("partials/resolved_alert.html", alert_id=fact.id)
        raise TypeError(f"unknown fact {fact!r}")

    def _card(self, metric: MetricValue) -> str:
        return self._render(
            "partials/metric_card.html",
            metric=metric,
            name=metric.name,
            board=self.board,
            history=self.history,
        )

    def snapshot(self, state: DashboardState) -> Entry:
        """The whole current state as one event, for clients the replay window cannot serve."""
        html = self._render("partials/snapshot.html", state=state, board=self.board, history=self.history)
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

"""The ingest API as the tests call it: sync httpx against a LiveServer, every answer checked."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx


class Ingest:
    """POST metrics, activity and alerts, DELETE alerts; each call returns the last event id."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=5.0)

    def metrics(self, points: Sequence[tuple[str, float]]) -> str:
        """One batch of readings, in order (a name may repeat)."""
        return self._send("POST", "/api/metrics", [{"name": n, "value": v} for n, v in points], 202)

    def metric(self, name: str, value: float) -> str:
        """A single reading."""
        return self.metrics([(name, value)])

    def activity(self, message: str, actor: str | None = None, level: str | None = None) -> str:
        """One line for the feed."""
        body: dict[str, Any] = {"message": message}
        if actor is not None:
            body["actor"] = actor
        if level is not None:
            body["level"] = level
        return self._send("POST", "/api/activity", body, 202)

    def alert(self, alert_id: str, severity: str, title: str, message: str | None = None) -> str:
        """Raise (or replace) an alert."""
        body: dict[str, Any] = {"id": alert_id, "severity": severity, "title": title}
        if message is not None:
            body["message"] = message
        return self._send("POST", "/api/alerts", body, 202)

    def resolve(self, alert_id: str) -> str:
        """Resolve an open alert."""
        return self._send("DELETE", f"/api/alerts/{alert_id}", None, 200)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _send(self, method: str, path: str, body: object, status: int) -> str:
        response = self.client.request(method, path, json=body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        last_id: str = response.json()["last_id"]
        return last_id

    def __enter__(self) -> Ingest:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

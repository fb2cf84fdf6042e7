"""The ingest counter's labels stay bounded, whatever paths clients make up."""

from __future__ import annotations

import pytest

from app.web.metrics import IngestCounts, ingest_route


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/metrics", "/api/metrics"),
        ("/api/activity", "/api/activity"),
        ("/api/alerts", "/api/alerts"),
        ("/api/alerts/db-latency", "/api/alerts/{alert_id}"),
        ("/api/alerts/", None),
        ("/api/nope", None),
        ("/api/metrics/x/y", None),
        ("/", None),
    ],
)
def test_a_path_maps_to_its_route_template_or_to_nothing(path: str, route: str | None) -> None:
    assert ingest_route(path) == route


def test_made_up_paths_add_no_series() -> None:
    counts = IngestCounts()
    for n in range(100):
        counts.count("POST", f"/api/made-up-{n}", 404)
        counts.count("DELETE", f"/api/alerts/a{n}", 404)
    assert dict(counts.counts) == {("DELETE", "/api/alerts/{alert_id}", 404): 100}

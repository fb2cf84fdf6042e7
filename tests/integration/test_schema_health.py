"""The OpenAPI schema and the health check answer."""

from __future__ import annotations

import re

import httpx

from tests.support.server import LiveServer


def test_openapi_schema_lists_the_ingest_api(server: LiveServer) -> None:
    response = httpx.get(server.url + "/schema/openapi.json", timeout=10.0, trust_env=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.oai.openapi+json"
    schema = response.json()
    assert schema["openapi"] == "3.1.0"
    # The streams are served before Litestar routes anything, so they are not in it.
    assert {path: sorted(methods) for path, methods in schema["paths"].items()} == {
        "/": ["get"],
        "/healthz": ["get"],
        "/readyz": ["get"],
        "/api/metrics": ["post"],
        "/api/activity": ["post"],
        "/api/alerts": ["post"],
        "/api/alerts/{alert_id}": ["delete"],
        "/api/metrics/{name}": ["delete"],
        "/api/viewer-links": ["get", "post"],
        "/api/viewer-links/{link_id}": ["delete"],
        "/api/metrics/{name}/history": ["get"],
    }
    history = schema["paths"]["/api/metrics/{name}/history"]["get"]
    assert [(p["name"], p["in"]) for p in history["parameters"]] == [("name", "path"), ("range", "query")]
    ok = history["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/HistoryOut")
    assert set(schema["components"]["schemas"]["HistoryOut"]["properties"]) == {"metric", "range", "points"}


def test_healthz_answers(server: LiveServer) -> None:
    response = httpx.get(server.url + "/healthz", timeout=10.0, trust_env=False)
    assert response.status_code == 200
    body = response.json()
    # Nothing ingested and no stream open on this module's server: the id before the first event.
    assert set(body) == {"status", "last_id", "streams"}
    assert (body["status"], body["streams"]) == ("ok", 0)
    assert re.fullmatch(r"\d+-0", body["last_id"]), body["last_id"]

"""The OpenAPI schema and the health check answer."""

from __future__ import annotations

import httpx

from tests.support.server import LiveServer


def test_openapi_schema_lists_the_ingest_api(server: LiveServer) -> None:
    response = httpx.get(server.url + "/schema/openapi.json", timeout=10.0, trust_env=False)
    assert response.status_code == 200
    assert "json" in response.headers["content-type"]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "post" in paths["/api/metrics"]
    assert "post" in paths["/api/activity"]
    assert "post" in paths["/api/alerts"]
    assert "delete" in paths["/api/alerts/{alert_id}"]


def test_healthz_answers(server: LiveServer) -> None:
    response = httpx.get(server.url + "/healthz", timeout=10.0, trust_env=False)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["streams"], int) and body["streams"] >= 0
    assert isinstance(body["last_id"], str) and body["last_id"]

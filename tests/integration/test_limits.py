"""Caps on distinct metrics and open alerts: refused with a 400 naming the field, nothing applied."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import metric_values, post_metrics, raise_alert

pytestmark = pytest.mark.anyio

SERVER_ENV = {"LIVEDASH_MAX_METRICS": "2", "LIVEDASH_MAX_ALERTS": "1"}


async def test_a_new_metric_past_the_cap_refuses_the_whole_batch(client: httpx.AsyncClient) -> None:
    await post_metrics(client, [{"name": "cap_a", "value": 1}, {"name": "cap_b", "value": 1}])
    response = await client.post(
        "/api/metrics", json=[{"name": "cap_a", "value": 2}, {"name": "cap_c", "value": 1}]
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("name: ")
    assert "LIVEDASH_MAX_METRICS" in response.json()["detail"]
    values = metric_values((await client.get("/")).text)
    assert values == {"cap_a": "1", "cap_b": "1"}


async def test_one_alert_past_the_cap_is_refused_but_replacing_one_is_not(client: httpx.AsyncClient) -> None:
    await raise_alert(client, "cap-one", "info", "first")
    await raise_alert(client, "cap-one", "critical", "replaced")
    response = await client.post("/api/alerts", json={"id": "cap-two", "severity": "info", "title": "t"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("id: ")
    assert 'id="alert-cap-two"' not in (await client.get("/")).text

"""Caps on distinct metrics and open alerts: refused with a 400 naming the field, nothing applied."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import by_id, metric_values, post_metrics, raise_alert

pytestmark = pytest.mark.anyio

SERVER_ENV = {"LIVEDASH_MAX_METRICS": "2", "LIVEDASH_MAX_ALERTS": "1"}


async def test_a_new_metric_past_the_cap_refuses_the_whole_batch(client: httpx.AsyncClient) -> None:
    await post_metrics(client, [{"name": "cap_a", "value": 1}, {"name": "cap_b", "value": 1}])
    response = await client.post(
        "/api/metrics", json=[{"name": "cap_a", "value": 2}, {"name": "cap_c", "value": 1}]
    )
    detail = "name: at most 2 metrics (LIVEDASH_MAX_METRICS); 1 new name(s) in this batch, e.g. 'cap_c'"
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    values = metric_values((await client.get("/")).text)
    assert values == {"cap_a": "1", "cap_b": "1"}


async def test_one_alert_past_the_cap_is_refused_but_replacing_one_is_not(client: httpx.AsyncClient) -> None:
    await raise_alert(client, "cap-one", "info", "first")
    await raise_alert(client, "cap-one", "critical", "replaced")
    response = await client.post("/api/alerts", json={"id": "cap-two", "severity": "info", "title": "t"})
    detail = "id: at most 1 open alerts (LIVEDASH_MAX_ALERTS); resolve some first"
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    banners = [key for key in by_id((await client.get("/")).text) if key.startswith("alert-")]
    assert banners == ["alert-cap-one"]

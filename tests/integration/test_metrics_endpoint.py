"""`/metrics`: the Prometheus text format, open to this machine, else to the metrics token."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import MakeServer, open_stream, post_activity, post_metric, unique, wait_for

pytestmark = pytest.mark.anyio

TOKEN = "metrics-secret"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels, as a scraper reads them."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_scrape_counts_what_this_process_did(make_server: MakeServer) -> None:
    server = make_server({"LIVEDASH_FLUSH_HZ": "0"}).start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0, trust_env=False) as client:
        async with open_stream(client, "/api/dashboard/stream") as stream:
            await stream.take(1)  # the snapshot
            name = unique("m")
            await post_metric(client, name, 1.0)
            await post_activity(client, "hello", actor="t")
            await stream.take(2)
            bad = await client.post("/api/metrics", json=[{"name": "Bad", "value": 1}])
            assert bad.status_code == 400
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"] == CONTENT_TYPE_PLAIN_0_0_4
            got = samples(response.text)
            assert got[("livedash_open_streams", (("format", "json"),))] == 1
            assert got[("livedash_open_streams", (("format", "html"),))] == 0
            # The metric and the activity item, broadcast in two writes (the opening is counted apart).
            assert got[("livedash_deliveries_total", (("format", "json"),))] == 2
            assert got[("livedash_writes_total", (("format", "json"),))] == 2
            assert got[("livedash_stream_openings_total", (("outcome", "snapshot"),))] == 1
            assert got[("livedash_stream_openings_total", (("outcome", "resumed"),))] == 0
            requests = {
                labels: value
                for (metric, labels), value in got.items()
                if metric == "livedash_ingest_requests_total"
            }
            assert requests == {
                (("method", "POST"), ("route", "/api/metrics"), ("status", "202")): 1,
                (("method", "POST"), ("route", "/api/metrics"), ("status", "400")): 1,
                (("method", "POST"), ("route", "/api/activity"), ("status", "202")): 1,
            }
            assert got[("livedash_hub_append_seconds_count", ())] == 2
            assert got[("livedash_held_points", ())] == 0
            assert got[("livedash_write_path", (("path", "direct"),))] == 1

        async def closed() -> bool | None:
            return True if (await client.get("/healthz")).json()["streams"] == 0 else None

        await wait_for(closed, 5.0, "the server saw the stream close")
        after = samples((await client.get("/metrics")).text)
        assert after[("livedash_streams_ended_total", (("format", "json"), ("reason", "disconnect")))] == 1


async def test_metrics_off_this_machine_need_the_token(make_server: MakeServer) -> None:
    server = make_server({"LIVEDASH_METRICS_TOKEN": TOKEN}).start()
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # what a request through a proxy looks like
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0, trust_env=False) as client:
        assert (await client.get("/metrics")).status_code == 200  # loopback, directly
        refused = await client.get("/metrics", headers=proxied)
        assert refused.status_code == 401
        assert (
            refused.json()["detail"] == "Authorization: Bearer <LIVEDASH_METRICS_TOKEN> is missing or wrong"
        )
        wrong = await client.get("/metrics", headers={**proxied, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={**proxied, "Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert "livedash_open_streams" in right.text


async def test_without_a_token_metrics_stay_on_this_machine(make_server: MakeServer) -> None:
    server = make_server({}).start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0, trust_env=False) as client:
        refused = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            "/metrics is open to loopback clients only while LIVEDASH_METRICS_TOKEN is unset"
        )


async def test_a_burst_of_card_updates_leaves_in_a_few_writes(make_server: MakeServer) -> None:
    """LIVEDASH_FLUSH_HZ bounds the writes per stream, and every frame still arrives."""
    server = make_server({"LIVEDASH_FLUSH_HZ": "4"}).start()
    name = unique("burst")
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10.0, trust_env=False) as client,
        open_stream(client, "/api/dashboard/stream") as stream,
    ):
        await stream.take(1)  # the snapshot
        started = anyio.current_time()
        for value in range(20):
            await post_metric(client, name, float(value))
        elapsed = anyio.current_time() - started
        events = await stream.take(20)
        assert [json.loads(event.data)["value"] for event in events] == list(range(20))
        got = samples((await client.get("/metrics")).text)
    assert got[("livedash_deliveries_total", (("format", "json"),))] == 20
    # The first at once, then at most one write per 250 ms while the burst lasted, and one after.
    writes = got[("livedash_writes_total", (("format", "json"),))]
    assert writes <= 2 + elapsed * 4, (writes, elapsed)


async def test_a_board_behind_a_login_still_lets_its_scraper_in(make_server: MakeServer) -> None:
    """The viewer login guards the board, not /metrics: a scraper has no session to show."""
    server = make_server({"LIVEDASH_VIEWER_PASSWORD": "pw", "LIVEDASH_METRICS_TOKEN": TOKEN}).start()
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0, trust_env=False) as client:
        assert (await client.get("/")).status_code == 303  # the board itself wants a login
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/metrics", headers=proxied)).status_code == 401
        scraper = {**proxied, "Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/metrics", headers=scraper)).status_code == 200

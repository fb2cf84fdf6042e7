"""The dashboard file against a real uvicorn: card states on the page and both streams, staleness
pushed with no request, rule alerts raised and resolved, cards removed live, sections in order."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    HTML_STREAM,
    JSON_STREAM,
    by_id,
    client_for,
    elements,
    open_stream,
    post_metric,
    post_metrics,
)
from tests.support.server import MakeServer

pytestmark = pytest.mark.anyio

BOARD = """
title = "Acme live"

[[sections]]
title = "Checkout health"
cards = ["p95", "hit"]

[[sections]]
title = "Jobs"
cards = ["job"]

[cards.p95]
label = "p95 latency"
unit = "ms"
decimals = 0
warn = 300
crit = 800
alert = true

[cards.hit]
label = "Cache hit ratio"
format = "percent"
warn = 0.5
crit = 0.2
bad = "low"

[cards.job]
format = "duration"
stale_after = 1
"""
TOKEN = "board-test-token"


@pytest.fixture
def board_env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "dashboard.toml"
    path.write_text(BOARD)
    return {"LIVEDASH_CONFIG": str(path), "LIVEDASH_INGEST_TOKEN": TOKEN}


def authorized(server_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server_url, timeout=10.0, trust_env=False, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def card_states(html: str) -> dict[str, str]:
    return {
        str(attrs["id"]).removeprefix("metric-"): str(attrs["data-state"])
        for tag, attrs in elements(html)
        if tag == "article" and str(attrs.get("id", "")).startswith("metric-")
    }


async def test_the_page_shows_sections_in_order_then_other_cards_each_with_its_state(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with authorized(server.url) as client:
        await post_metrics(
            client,
            [{"name": "other", "value": 1}, {"name": "hit", "value": 0.4}, {"name": "p95", "value": 900}],
        )
        page = (await client.get("/")).text
    assert '<h1 class="topbar__title" data-js-title>Acme live</h1>' in page
    assert page.index("Checkout health") < page.index("Jobs") < page.index('id="metrics-grid"')
    assert card_states(page) == {"p95": "critical", "hit": "warning", "job": "stale", "other": "ok"}
    assert list(card_states(page)) == ["p95", "hit", "job", "other"]
    assert '900<span class="card__unit">ms</span>' in page
    assert '40.0<span class="card__unit">%</span>' in page
    assert '<p class="card__state">No data yet</p>' in page  # job: placed, no point yet


async def test_a_state_change_travels_on_the_stream_and_in_the_snapshot(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with authorized(server.url) as client, open_stream(client, HTML_STREAM) as html:
        assert (await html.next_event()).event == "snapshot"
        await post_metric(client, "hit", 0.9)
        first = await html.next_event()
        await post_metric(client, "hit", 0.1)
        second = await html.next_event()
        async with open_stream(client, HTML_STREAM) as fresh:
            snapshot = await fresh.next_event()
    assert (first.event, card_states(first.data)) == ("metric-hit", {"hit": "ok"})
    assert (second.event, card_states(second.data)) == ("metric-hit", {"hit": "critical"})
    assert '<p class="card__state">Critical</p>' in second.data
    assert snapshot.event == "snapshot"
    assert card_states(snapshot.data) == {"p95": "stale", "hit": "critical", "job": "stale"}


async def test_stale_is_pushed_on_both_streams_without_any_request(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with (
        authorized(server.url) as client,
        open_stream(client, HTML_STREAM) as html,
        open_stream(client, JSON_STREAM) as data,
    ):
        assert (await html.next_event()).event == "snapshot"
        assert (await data.next_event()).event == "snapshot"
        await post_metric(client, "job", 95.3, ts=None)
        fresh_html, fresh_json = await html.next_event(), await data.next_event()
        point_ts = json.loads(fresh_json.data)["ts"]
        # Nothing is requested from here on: the server's own timer must push the stale card.
        stale_html, stale_json = await html.next_event(5), await data.next_event(5)
        page = (await client.get("/")).text
    assert card_states(fresh_html.data) == {"job": "ok"}
    assert (stale_html.event, card_states(stale_html.data)) == ("metric-job", {"job": "stale"})
    assert '<p class="card__state">Stale: no data for over 1 s</p>' in stale_html.data
    assert '1.6<span class="card__unit">min</span>' in stale_html.data
    assert (stale_json.event, json.loads(stale_json.data)) == (
        "metric-stale",
        {"metric": "job", "ts": point_ts},
    )
    assert card_states(page)["job"] == "stale"


async def test_a_rule_raises_its_banner_on_crossing_and_resolves_it_back_at_ok(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with (
        authorized(server.url) as client,
        open_stream(client, HTML_STREAM) as html,
        open_stream(client, JSON_STREAM) as data,
    ):
        await html.next_event(), await data.next_event()  # snapshots
        await post_metric(client, "p95", 450)
        await html.next_event(), await data.next_event()  # the card
        raised_html, raised_json = await html.next_event(), await data.next_event()
        await post_metric(client, "p95", 120)
        await html.next_event(), await data.next_event()  # the card
        resolved_html, resolved_json = await html.next_event(), await data.next_event()
        page = (await client.get("/")).text
    assert raised_html.event == "new-alert" and 'id="alert-rule-p95"' in raised_html.data
    assert 'class="alert alert--warning warning"' in raised_html.data
    body = json.loads(raised_json.data)
    assert (raised_json.event, body["id"], body["severity"], body["title"]) == (
        "alert",
        "rule-p95",
        "warning",
        "p95 latency ≥ 300 ms",
    )
    assert resolved_html.event == "resolved-alert"
    assert (resolved_json.event, json.loads(resolved_json.data)["id"]) == ("alert-resolved", "rule-p95")
    assert "alert-rule-p95" not in by_id(page)


async def test_deleting_a_card_removes_it_live_and_a_second_delete_is_404(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with (
        authorized(server.url) as client,
        open_stream(client, HTML_STREAM) as html,
        open_stream(client, JSON_STREAM) as data,
    ):
        await html.next_event(), await data.next_event()
        await post_metrics(client, [{"name": "cpu", "value": 1}, {"name": "hit", "value": 0.9}])
        await html.take(2), await data.take(2)
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as stranger:
            anonymous = await stranger.delete("/api/metrics/cpu")
        removed = await client.delete("/api/metrics/cpu")
        placed = await client.delete("/api/metrics/hit")
        gone_html, gone_json = await html.take(2), await data.take(2)
        again = await client.delete("/api/metrics/cpu")
        page = (await client.get("/")).text
    assert anonymous.status_code == 401
    assert removed.status_code == 200 and placed.status_code == 200
    assert [event.event for event in gone_html] == ["removed-metric", "removed-metric"]
    assert gone_html[0].data.strip() == '<div id="metric-cpu" hx-swap-oob="delete"></div>'
    assert 'hx-swap-oob="outerHTML"' in gone_html[1].data and "No data yet" in gone_html[1].data
    assert [(e.event, json.loads(e.data)["metric"]) for e in gone_json] == [
        ("metric-removed", "cpu"),
        ("metric-removed", "hit"),
    ]
    assert again.status_code == 404
    assert again.json()["detail"] == "name: no metric 'cpu'"
    assert "cpu" not in card_states(page) and card_states(page)["hit"] == "stale"


async def test_a_ts_far_in_the_future_is_refused_naming_ts(
    make_server: MakeServer, board_env: dict[str, str]
) -> None:
    server = make_server(board_env).start()
    async with authorized(server.url) as client:
        response = await client.post("/api/metrics", json=[{"name": "cpu", "value": 1, "ts": 32503680000}])
        page = (await client.get("/")).text
    assert response.status_code == 400
    assert response.json()["detail"].startswith("ts: 32503680000.000 is ")
    assert response.json()["extra"][0]["key"] == "ts"
    assert "cpu" not in card_states(page) and '<time id="last-update" data-js-updated>never</time>' in page


async def test_a_wrong_dashboard_file_stops_the_server_naming_the_key(
    make_server: MakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "dashboard.toml"
    path.write_text("[cards.p95]\nalert = true\n")
    server = make_server({"LIVEDASH_CONFIG": str(path)})
    with pytest.raises(RuntimeError, match="server exited"):
        server.start()
    assert f"{path}: cards.p95.alert: needs warn or crit to alert on" in server.log()


async def test_without_a_file_the_demo_style_names_keep_the_plain_card(make_server: MakeServer) -> None:
    server = make_server().start()
    async with client_for(server) as client:
        await post_metric(client, "p95_latency_ms", 812)
        page = (await client.get("/")).text
    assert card_states(page) == {"p95_latency_ms": "ok"}
    assert '<h3 class="card__label"><a href="/cards/p95_latency_ms">P95 latency ms</a></h3>' in page
    assert "board-sections" not in page

"""History on a real server: sparklines drawn from posted points, the history API, the detail
page and its refusals, history identical after a restart (SQLite) and in two processes (Redis)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    JSON_STREAM,
    MakeServer,
    by_id,
    client_for,
    open_stream,
    post_metrics,
    redis_settings,
    unique,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

SERVER_ENV = {"LIVEDASH_CARD_RATE": "0"}
BASE = (int(time.time()) // 60 - 30) * 60
"""Half an hour ago, on a minute: posted points carry explicit times from here, a second apart."""


async def post_series(client: httpx.AsyncClient, name: str, values: list[float], start: int = BASE) -> str:
    """One point per second from `start`; the last event's id."""
    return await post_metrics(
        client, [{"name": name, "value": value, "ts": start + i} for i, value in enumerate(values)]
    )


async def history(client: httpx.AsyncClient, name: str, range_name: str = "15m") -> dict[str, Any]:
    response = await client.get(f"/api/metrics/{name}/history", params={"range": range_name})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sparkline(html: str, name: str) -> str:
    card = html[html.index(f'id="metric-{name}"') :]
    match = re.search(r"<svg class=\"sparkline\"[^>]*>.*?</svg>", card, re.S)
    assert match, card[:2000]
    return match.group(0)


async def test_a_card_draws_one_sparkline_point_per_second_posted(client: httpx.AsyncClient) -> None:
    name = unique("spark")
    await post_series(client, name, [1, 5, 3, 4])
    svg = sparkline((await client.get("/")).text, name)
    assert 'data-sparkline data-points="4"' in svg
    assert 'points="0,30 40,0 80,15 120,8"' in svg
    assert 'aria-label="Last 15 min: min 1, max 5, last 4"' in svg
    assert "style=" not in svg


async def test_the_history_api_returns_raw_seconds_and_minute_roll_ups(client: httpx.AsyncClient) -> None:
    name = unique("api")
    await post_series(client, name, [2.5, -1, 7])
    await post_metrics(client, [{"name": name, "value": 9, "ts": BASE + 2.5}])  # the same second: replaces 7
    assert await history(client, name) == {
        "metric": name,
        "range": "15m",
        "points": [[BASE, 2.5, 2.5, 2.5], [BASE + 1, -1, -1, -1], [BASE + 2, 9, 9, 9]],
    }
    assert (await history(client, name, "1h"))["points"] == [[BASE, -1, 9, 9]]
    assert (await client.get(f"/api/metrics/{name}/history")).json()["range"] == "15m"


async def test_history_refuses_an_unknown_card_with_404_and_a_bad_range_with_400(
    client: httpx.AsyncClient,
) -> None:
    name = unique("known")
    await post_series(client, name, [1])
    for path in (f"/api/metrics/{name}/history", f"/cards/{name}"):
        bad = await client.get(path, params={"range": "2d"})
        assert bad.status_code == 400, bad.text
        assert bad.json()["detail"] == "range: expected one of 15m, 1h, 6h, 24h, got '2d'"
    for path in ("/api/metrics/nobody/history", "/cards/nobody"):
        missing = await client.get(path)
        assert missing.status_code == 404, missing.text
        assert "nobody" in missing.json()["detail"]


async def test_the_detail_page_draws_the_range_its_figures_and_links_every_range(
    client: httpx.AsyncClient,
) -> None:
    name = unique("detail")
    await post_series(client, name, [10, 30, 20])
    response = await client.get(f"/cards/{name}", params={"range": "1h"})
    assert response.status_code == 200, response.text
    page = response.text
    chart = by_id(page)["card-chart"]
    assert chart["hx-trigger"] == f"sse:metric-{name} throttle:1s"
    assert re.search(r'<svg class="chart" data-chart data-range="1h" data-points="1"', page)
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page))
    assert figures == {"min": "10", "avg": "20", "max": "30", "last": "20"}
    links = re.findall(r'<a href="(/cards/[^"]+)"( aria-current="page")?>', page)
    assert links[:4] == [
        (f"/cards/{name}?range=15m", ""),
        (f"/cards/{name}?range=1h", ' aria-current="page"'),
        (f"/cards/{name}?range=6h", ""),
        (f"/cards/{name}?range=24h", ""),
    ]
    assert f'id="metric-{name}"' in page and "sse-connect=" in page
    fragment = await client.get(f"/cards/{name}/chart", params={"range": "15m"})
    assert 'data-range="15m" data-points="3"' in fragment.text


async def test_history_is_identical_after_a_restart(make_server: MakeServer, tmp_path: Path) -> None:
    env = {**SERVER_ENV, "LIVEDASH_DB_PATH": str(tmp_path / "livedash.sqlite3")}
    server = make_server(env).start()
    name = unique("kept")
    async with client_for(server) as client:
        await post_series(client, name, [float(i % 5) for i in range(120)])
        before = {r: await history(client, name, r) for r in ("15m", "1h", "24h")}
        page = sparkline((await client.get("/")).text, name)
    assert len(before["15m"]["points"]) == 120 and len(before["1h"]["points"]) == 2
    server.restart()
    async with client_for(server) as client:
        assert {r: await history(client, name, r) for r in ("15m", "1h", "24h")} == before
        assert sparkline((await client.get("/")).text, name) == page


async def test_two_processes_on_redis_keep_the_same_history_and_a_later_one_loads_it(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server)
    first, second = make_server(env).start(), make_server(env).start()
    name = unique("shared")
    async with (
        client_for(first) as one,
        client_for(second) as two,
        open_stream(two, JSON_STREAM) as on_second,
    ):
        assert (await on_second.next_event()).event == "snapshot"
        last = await post_series(one, name, [float(i * i) for i in range(90)])
        while (await on_second.next_event(10)).id != last:
            pass  # the second process has delivered every point
        expected = {r: await history(one, name, r) for r in ("15m", "1h")}
        assert {r: await history(two, name, r) for r in ("15m", "1h")} == expected
        assert len(expected["15m"]["points"]) == 90
    later = make_server(env).start()
    async with client_for(later) as three:
        assert {r: await history(three, name, r) for r in ("15m", "1h")} == expected

"""Card throttling with several processes: each holds its own points, but a held point never
overwrites a newer value that another process published meanwhile."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.helpers import (
    JSON_STREAM,
    MakeServer,
    client_for,
    metric_values,
    open_stream,
    redis_settings,
    unique,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

RATE = 1  # a held point waits up to 1 s for its card's next slot


async def post_point(client: httpx.AsyncClient, name: str, value: float) -> dict[str, Any]:
    response = await client.post("/api/metrics", json=[{"name": name, "value": value}])
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_held_point_does_not_overwrite_a_newer_value_from_another_process(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server, LIVEDASH_CARD_RATE=str(RATE))
    first, second = make_server(env).start(), make_server(env).start()
    card, marker = unique("card"), unique("marker")
    async with client_for(first) as a, client_for(second) as b, open_stream(a, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        assert (await post_point(a, card, 1))["held"] == 0
        held = await post_point(a, card, 2)
        assert (held["held"], held["last_id"]) == (1, None)  # waits for the card's next slot on A
        assert (await post_point(b, card, 3))["held"] == 0
        # A marker card held on A as well, but due after the card: once the marker's held value
        # is out, A has come to the card's held 2 and either sent it (wrong) or dropped it.
        assert (await post_point(a, marker, 0))["held"] == 0
        assert (await post_point(a, marker, 1))["held"] == 1

        updates: list[tuple[str, float]] = []
        with anyio.fail_after(5 / RATE):
            while updates[-1:] != [(marker, 1)]:
                event = await stream.next_event(5 / RATE)
                if event.event == "metric-update":
                    body = json.loads(event.data)
                    updates.append((body["metric"], body["value"]))
        assert updates == [(card, 1), (card, 3), (marker, 0), (marker, 1)]
        for client in (a, b):
            assert metric_values((await client.get("/")).text)[card] == "3"

"""Card throttling with several processes: each holds its own points, but a held point never
overwrites a newer value that another process published meanwhile."""

from __future__ import annotations

import anyio
import pytest

from tests.integration.helpers import MakeServer, client_for, metric_values, redis_settings, unique, wait_for
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

RATE = 1  # a held point waits up to 1 s for its card's next slot


async def test_a_held_point_does_not_overwrite_a_newer_value_from_another_process(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server, LIVEDASH_CARD_RATE=str(RATE))
    first, second = make_server(env).start(), make_server(env).start()
    card = unique("card")
    async with client_for(first) as a, client_for(second) as b:
        assert (await a.post("/api/metrics", json=[{"name": card, "value": 1}])).json()["held"] == 0
        held = (await a.post("/api/metrics", json=[{"name": card, "value": 2}])).json()
        assert (held["held"], held["last_id"]) == (1, None)  # waits for the card's next slot on A
        assert (await b.post("/api/metrics", json=[{"name": card, "value": 3}])).json()["held"] == 0

        async def both_show_3() -> bool | None:
            pages = [metric_values((await client.get("/")).text) for client in (a, b)]
            return True if all(page.get(card) == "3" for page in pages) else None

        await wait_for(both_show_3, 5.0, "both pages show the newest value, 3")
        # Nothing to poll for: A's held 2 would go out when its slot comes, within 1/RATE s.
        await anyio.sleep(1.5 / RATE)
        for client in (a, b):
            assert metric_values((await client.get("/")).text)[card] == "3"

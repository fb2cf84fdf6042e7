"""The demo source runs once per deployment: one process holds a lease in Redis, and when it
dies (SIGKILL, or SIGTERM on a deploy) another takes the lease over and the demo goes on."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from tests.integration.helpers import (
    JSON_STREAM,
    MakeServer,
    SSEStream,
    assert_ready,
    client_for,
    health,
    id_key,
    open_stream,
    redis_settings,
    wait_for,
)
from tests.support.redis_server import RedisServer
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

LEASE = 1.0
DEMO = {"LIVEDASH_DEMO": "1", "LIVEDASH_DEMO_INTERVAL": "0.2", "LIVEDASH_LEASE_SECONDS": str(LEASE)}
TAKEOVER = LEASE + 4.0  # "within about the lease", on a loaded CI machine
OBSERVE = 2.5  # more than two lease periods


async def producer_flags(clients: list[httpx.AsyncClient]) -> list[bool]:
    """What each process's /readyz says about holding the producer lease."""
    flags = []
    for client in clients:
        body = await assert_ready(client, "redis")
        flags.append(body["producer"])
    return flags


async def exactly_one_holder(clients: list[httpx.AsyncClient]) -> int | None:
    """The index of the only holder, or None while there is none yet."""
    flags = await producer_flags(clients)
    assert sum(flags) <= 1, f"several processes run the producer at once: {flags}"
    return flags.index(True) if any(flags) else None


async def demo_events(stream: SSEStream, count: int, after: str | None, timeout: float) -> list[str]:
    """Ids of the next `count` demo events newer than `after`."""
    ids: list[str] = []
    with anyio.fail_after(timeout):
        while len(ids) < count:
            event = await stream.next_event(timeout)
            if event.event != "snapshot" and (after is None or id_key(event.id) > id_key(after)):
                ids.append(str(event.id))
    return ids


@pytest.mark.parametrize("death", ["sigkill", "sigterm"])
async def test_one_producer_and_a_takeover_when_it_dies(
    redis_server: RedisServer, make_server: MakeServer, death: str
) -> None:
    env = redis_settings(redis_server, **DEMO)
    servers: list[LiveServer] = [make_server(env).start(), make_server(env).start()]
    async with client_for(servers[0]) as first, client_for(servers[1]) as second:
        clients = [first, second]
        holder = await wait_for(lambda: exactly_one_holder(clients), TAKEOVER, "one process takes the lease")
        # It stays exactly one, the same one, while the holder lives (it renews the lease).
        deadline = anyio.current_time() + OBSERVE
        while anyio.current_time() < deadline:
            assert await exactly_one_holder(clients) == holder
            await anyio.sleep(0.1)  # sampling over time is the point here

        survivor = 1 - holder
        async with open_stream(clients[survivor], JSON_STREAM) as stream:
            # The holder's demo events reach the other process's clients.
            before = await demo_events(stream, 3, None, timeout=5)
            died_at = time.monotonic()
            if death == "sigkill":
                servers[holder].kill()
            else:
                servers[holder].stop()

            async def survivor_holds() -> bool | None:
                return True if await producer_flags([clients[survivor]]) == [True] else None

            await wait_for(survivor_holds, TAKEOVER, f"the survivor takes the lease over ({death})")
            took = time.monotonic() - died_at
            # And the demo goes on, now from the survivor: events newer than any it had.
            mark = (await health(clients[survivor]))["last_id"]
            assert id_key(mark) >= id_key(before[-1])
            await demo_events(stream, 3, mark, timeout=5)
    assert took <= TAKEOVER, took

"""Two uvicorn processes on one Redis are one dashboard: ingest at either reaches the streams
of both, with the same ids, and those ids are the Redis Stream's own."""

from __future__ import annotations

import re

import pytest

from tests.integration.helpers import (
    STREAMS,
    MakeServer,
    assert_increasing,
    assert_ready,
    assert_received,
    client_for,
    expect_events,
    ingest_each_kind,
    open_stream,
    post_activity,
    redis_settings,
    unique,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_ingest_at_either_process_reaches_the_streams_of_both(
    redis_server: RedisServer, make_server: MakeServer, fmt: str
) -> None:
    env = redis_settings(redis_server)
    first, second = make_server(env).start(), make_server(env).start()
    async with (
        client_for(first) as one,
        client_for(second) as two,
        open_stream(one, STREAMS[fmt]) as on_first,
        open_stream(two, STREAMS[fmt]) as on_second,
    ):
        assert (await on_first.next_event()).event == "snapshot"
        assert (await on_second.next_event()).event == "snapshot"
        sent = await ingest_each_kind([one, two], 24)
        assert_received(await expect_events(on_first, len(sent), 10), sent, fmt)
        assert_received(await expect_events(on_second, len(sent), 10), sent, fmt)
    assert_increasing([s.id for s in sent])


async def test_sse_ids_are_the_redis_stream_ids_under_the_prefix(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server)
    prefix = env["LIVEDASH_REDIS_PREFIX"]
    server = make_server(env).start()
    async with client_for(server) as client:
        await assert_ready(client, "redis")
        ids = [await post_activity(client, unique("line"), actor="t") for _ in range(5)]
    assert all(re.fullmatch(r"\d+-\d+", event_id) for event_id in ids), ids

    with redis_server.client() as redis:
        keys = [key.decode() for key in redis.scan_iter(count=1000)]
        assert [key for key in keys if not key.startswith(f"{prefix}:")] == [], keys
        streams = [key for key in keys if redis.type(key) == b"stream"]
        assert streams == [f"{prefix}:events"], keys
        entries = redis.xrange(streams[0], ids[0], ids[-1])
        assert [entry_id.decode() for entry_id, _ in entries] == ids


async def test_paas_redis_url_works_too(redis_server: RedisServer, make_server: MakeServer) -> None:
    """`REDIS_URL` (what a PaaS add-on sets) selects the Redis hub like `LIVEDASH_REDIS_URL`."""
    env = redis_settings(redis_server)
    paas = {k: v for k, v in env.items() if k != "LIVEDASH_REDIS_URL"} | {"REDIS_URL": redis_server.url}
    first, second = make_server(env).start(), make_server(paas).start()
    async with (
        client_for(first) as one,
        client_for(second) as two,
        open_stream(one, STREAMS["json"]) as stream,
    ):
        await assert_ready(two, "redis")
        assert (await stream.next_event()).event == "snapshot"
        event_id = await post_activity(two, unique("via_paas"), actor="t")
        assert (await stream.next_event(10)).id == event_id


async def test_processes_under_another_prefix_are_another_dashboard(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    first = make_server(redis_settings(redis_server)).start()
    other = make_server(redis_settings(redis_server)).start()  # a prefix of its own
    async with (
        client_for(first) as one,
        client_for(other) as two,
        open_stream(two, STREAMS["json"]) as stream,
    ):
        await assert_ready(one, "redis")
        await assert_ready(two, "redis")
        assert (await stream.next_event()).event == "snapshot"
        await post_activity(one, unique("elsewhere"), actor="t")
        mine = await post_activity(two, unique("here"), actor="t")
        event = await stream.next_event(10)
    assert event.id == mine, f"an event of the other prefix arrived: {event}"

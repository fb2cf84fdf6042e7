"""The state lives in Redis: a process started later, even after every other one has gone,
shows the current dashboard on its first page, and its ids carry on from the stream's."""

from __future__ import annotations

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
    page_regions,
    post_activity,
    post_metric,
    post_metrics,
    raise_alert,
    redis_settings,
    resolve_alert,
    unique,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


async def build_state(client: httpx.AsyncClient) -> tuple[list[str], str]:
    """Cards with a history, feed lines, alerts raised, changed and resolved; (words shown, last id)."""
    shown: list[str] = []
    metrics = [unique("disk"), unique("cpu")]
    for i, name in enumerate(metrics):
        await post_metric(client, name, 10 + i)
    await post_metrics(client, [{"name": metrics[0], "value": 5.5}, {"name": metrics[1], "value": 99}])
    shown += [f'id="metric-{name}"' for name in metrics]
    for level in ["info", "warning"]:
        message = unique("line")
        await post_activity(client, message, actor="grace", level=level)
        shown.append(message)
    kept, gone = unique("open"), unique("closed")
    await raise_alert(client, kept, "warning", "disk filling")
    await raise_alert(client, gone, "info", "soon gone")
    await raise_alert(client, kept, "critical", "disk full", "changed since")
    last = await resolve_alert(client, gone)
    shown.append(f'id="alert-{kept}"')
    return shown, last


async def page(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200, response.text
    return response.text


async def until_delivered(stream: SSEStream, last: str) -> None:
    """Read the stream until the event `last` (this process has applied everything up to it)."""
    while (await stream.next_event(10)).id != last:
        pass


async def test_a_process_started_later_shows_the_current_state_on_its_first_page(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server)
    first = make_server(env).start()
    async with client_for(first) as client, open_stream(client, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        shown, last = await build_state(client)
        await until_delivered(stream, last)
        regions = page_regions(await page(client))
    for word in shown:
        assert word in "".join(regions.values()), word
    first.stop()  # no process is left that could hand the state over

    later = make_server(env).start()
    async with client_for(later) as client:
        await assert_ready(client, "redis")
        assert page_regions(await page(client)) == regions
        assert (await health(client))["last_id"] == last
        assert id_key(await post_activity(client, unique("next"), actor="t")) > id_key(last)


async def test_two_running_processes_show_the_same_page(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server)
    first, second = make_server(env).start(), make_server(env).start()
    async with (
        client_for(first) as one,
        client_for(second) as two,
        open_stream(one, JSON_STREAM) as on_first,
        open_stream(two, JSON_STREAM) as on_second,
    ):
        assert (await on_first.next_event()).event == "snapshot"
        assert (await on_second.next_event()).event == "snapshot"
        _, last = await build_state(one)
        await until_delivered(on_first, last)
        await until_delivered(on_second, last)
        assert page_regions(await page(two)) == page_regions(await page(one))

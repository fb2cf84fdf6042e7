"""Redis stopped and started again (same port, data kept) under a running livedash.

During the outage: /readyz 503 with a reason, /healthz 200, the page still served from the
last known state, open streams kept alive by heartbeats, ingest refused with 503 (never 500,
never acknowledged). After it: ingest works again without a restart, the open streams carry
on, and nothing acknowledged is lost.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.helpers import (
    HTML_STREAM,
    JSON_STREAM,
    MakeServer,
    SSEStream,
    assert_increasing,
    assert_ready,
    client_for,
    expect_events,
    health,
    id_key,
    open_stream,
    page_regions,
    post_activity,
    post_metric,
    raise_alert,
    readiness,
    redis_settings,
    unique,
    wait_for,
)
from tests.support.redis_server import RedisServer
from tests.support.sse_client import Event

pytestmark = pytest.mark.anyio

HEARTBEAT = 0.5
SLACK = 1.0  # a loaded 2-core CI machine
DETECT = 10.0  # seconds livedash may take to notice Redis is gone
RECOVER = 20.0  # ... and to be back once it is up again (reconnect backoff)


async def page(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.text


async def unavailable(client: httpx.AsyncClient) -> dict[str, Any] | None:
    status, body = await readiness(client)
    return body if status == 503 else None


async def ready_again(client: httpx.AsyncClient) -> dict[str, Any] | None:
    status, body = await readiness(client)
    return body if status == 200 else None


INGEST_CALLS: list[tuple[str, str, dict[str, Any] | list[dict[str, Any]] | None]] = [
    ("POST", "/api/metrics", [{"name": "outage_metric", "value": 1}]),
    ("POST", "/api/activity", {"message": "written during the outage", "actor": "t", "level": "info"}),
    ("POST", "/api/alerts", {"id": "outage-alert", "severity": "warning", "title": "raised in the outage"}),
    ("DELETE", "/api/alerts/{open_alert}", None),
]


REFUSED = r"event hub unavailable \(redis: .+\); nothing was recorded, retry"


async def assert_ingest_refused(client: httpx.AsyncClient, open_alert: str) -> None:
    """Each ingest endpoint answers 503, saying the hub is down and nothing was recorded."""
    for method, path, body in INGEST_CALLS:
        response = await client.request(method, path.format(open_alert=open_alert), json=body)
        assert response.status_code == 503, (method, path, response.status_code, response.text)
        detail = response.json()["detail"]
        assert re.fullmatch(REFUSED, detail), (path, detail)
        assert "127.0.0.1" not in detail, detail  # where Redis lives is not the client's business


async def post_until_accepted(client: httpx.AsyncClient, message: str) -> str:
    """POST an activity until a 202 (503s while livedash reconnects; nothing else); its id."""
    statuses: list[int] = []

    async def attempt() -> str | None:
        response = await client.post("/api/activity", json={"message": message, "actor": "t"})
        statuses.append(response.status_code)
        assert response.status_code in (202, 503), (response.status_code, response.text)
        return str(response.json()["last_id"]) if response.status_code == 202 else None

    try:
        return await wait_for(attempt, RECOVER, "ingest accepted again after Redis came back", 0.2)
    except AssertionError as error:
        raise AssertionError(f"{error}; {len(statuses)} attempts, the last: {statuses[-5:]}") from None


async def heartbeats_only(stream: SSEStream, count: int) -> list[Event]:
    """The next `count` events are heartbeats, each within the interval (plus slack)."""
    beats = [await stream.next_event(HEARTBEAT + SLACK, heartbeats=True) for _ in range(count)]
    assert [b.event for b in beats] == ["heartbeat"] * count, beats
    return beats


async def test_outage_keeps_serving_and_recovers_without_a_restart(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    server = make_server(redis_settings(redis_server, LIVEDASH_HEARTBEAT_SECONDS=str(HEARTBEAT))).start()
    async with client_for(server) as client:
        await assert_ready(client, "redis")
        open_alert = unique("open")
        await post_metric(client, unique("load"), 0.75)
        await raise_alert(client, open_alert, "critical", "db down")
        before_ids = [await post_activity(client, unique("before"), actor="t") for _ in range(3)]

        async with (
            open_stream(client, JSON_STREAM) as json_stream,
            open_stream(client, HTML_STREAM) as html_stream,
        ):
            assert (await json_stream.next_event()).event == "snapshot"
            assert (await html_stream.next_event()).event == "snapshot"
            seen = [await post_activity(client, unique("seen"), actor="t") for _ in range(2)]
            assert [e.id for e in await json_stream.take(2)] == seen
            assert [e.id for e in await html_stream.take(2)] == seen
            last_before = seen[-1]
            shown = page_regions(await page(client))

            redis_server.stop()

            reason = await wait_for(lambda: unavailable(client), DETECT, "/readyz 503 during the outage")
            assert (reason["status"], reason["backend"]) == ("unavailable", "redis"), reason
            assert reason["reason"].startswith("redis: "), reason
            assert "127.0.0.1" not in reason["reason"], reason  # nor Redis's address to anyone
            assert (await health(client))["status"] == "ok"
            assert page_regions(await page(client)) == shown, "the page lost its last known state"
            await heartbeats_only(json_stream, 2)
            await heartbeats_only(html_stream, 2)
            await assert_ingest_refused(client, open_alert)
            assert (await health(client))["streams"] == 2

            redis_server.start()

            first_after = await post_until_accepted(client, unique("after"))
            after = [first_after] + [
                await post_activity(client, unique("after"), actor="t") for _ in range(3)
            ]
            await wait_for(lambda: ready_again(client), RECOVER, "/readyz 200 after Redis came back")
            # The open streams carry on: exactly the accepted events, nothing refused, no repeat.
            assert [e.id for e in await expect_events(json_stream, len(after), RECOVER)] == after
            assert [e.id for e in await expect_events(html_stream, len(after), RECOVER)] == after

        # A client that left before the outage resumes with its id and gets exactly what it missed.
        async with open_stream(client, JSON_STREAM, headers={"Last-Event-ID": last_before}) as stream:
            resumed = await expect_events(stream, len(after))
        assert [(e.event, e.id) for e in resumed] == [("activity", event_id) for event_id in after]
        assert "written during the outage" not in "".join(e.data for e in resumed)
    assert_increasing(before_ids + seen + after)
    assert id_key(after[0]) > id_key(last_before)
    assert "Traceback" not in server.log()  # refused ingests are answered, not logged as crashes


async def test_events_acknowledged_just_before_the_outage_are_delivered_after_it(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    """A burst is acknowledged, then Redis goes away at once: every acknowledged event still
    reaches the open stream, once, in order, and the first event after the outage follows it.
    (An acknowledgement waits until this process has read the event back, so the burst is in
    the stream's replay window, not only in Redis, when the outage begins.)"""
    server = make_server(redis_settings(redis_server, LIVEDASH_HEARTBEAT_SECONDS=str(HEARTBEAT))).start()
    async with client_for(server) as client, open_stream(client, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        burst = [await post_activity(client, f"burst-{i:02d}", actor="t") for i in range(50)]
        redis_server.stop()
        await wait_for(lambda: unavailable(client), DETECT, "/readyz 503 during the outage")
        redis_server.start()
        after = await post_until_accepted(client, unique("after"))
        delivered: list[str] = []
        with anyio.fail_after(RECOVER):
            while after not in delivered:
                delivered.append(str((await stream.next_event(RECOVER)).id))
    assert delivered == [*burst, after]


async def test_redis_that_comes_back_empty_gets_the_last_known_state_back(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    """A Redis without persistence restarts empty: the first livedash to reconnect writes its
    state back, so a process started afterwards shows the same page, and ids keep increasing."""
    settings = redis_settings(redis_server, LIVEDASH_HEARTBEAT_SECONDS=str(HEARTBEAT))
    first = make_server(settings).start()
    async with client_for(first) as client, open_stream(client, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        await post_metric(client, unique("kept"), 42)
        await raise_alert(client, unique("kept"), "warning", "still open")
        last_before = await post_activity(client, unique("kept"), actor="t")
        await expect_events(stream, 3)
        shown = page_regions(await page(client))

        redis_server.stop(keep_data=False)
        await wait_for(lambda: unavailable(client), DETECT, "/readyz 503 during the outage")
        redis_server.start()
        after = await post_until_accepted(client, unique("after"))
        assert id_key(after) > id_key(last_before)
        assert [e.id for e in await expect_events(stream, 1, RECOVER)] == [after]
        expected = page_regions(await page(client))
        assert expected["metrics-grid"] == shown["metrics-grid"] and expected["alerts"] == shown["alerts"]

    second = make_server(settings).start()
    async with client_for(second) as client:
        assert page_regions(await page(client)) == expected
        assert (await health(client))["last_id"] == after

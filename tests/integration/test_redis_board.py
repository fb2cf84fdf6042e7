"""The dashboard file with Redis: two processes raise one rule banner, not two, and show the
same card states, stale included (decided once, by the process holding the producers lease);
a process started later loads the stale mark and the removal as Redis folded them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.domain.model import MetricRemoved, MetricStale, MetricUpdated
from app.domain.state import DashboardState, MetricValue
from app.hubs.redis import RedisHub
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer, make_environment
from tests.integration.helpers import (
    STREAMS,
    SSEStream,
    client_for,
    elements,
    open_stream,
    post_activity,
    post_metric,
    readiness,
    redis_settings,
    unique,
    wait_for,
)
from tests.support.redis_server import RedisServer
from tests.support.server import MakeServer
from tests.support.sse_client import Event

pytestmark = pytest.mark.anyio

BOARD = """
[cards.p95]
unit = "ms"
warn = 300
crit = 800
alert = true

[cards.job]
stale_after = 1
"""


async def until_marker(stream: SSEStream, marker: str) -> list[Event]:
    """Every event up to and including the activity line `marker`."""
    events = []
    while True:
        event = await stream.next_event(10)
        events.append(event)
        if event.event == "activity" and json.loads(event.data)["message"] == marker:
            return events


def rule_alerts(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (event.event, json.loads(event.data).get("severity", ""))
        for event in events
        if event.event in ("alert", "alert-resolved") and json.loads(event.data)["id"] == "rule-p95"
    ]


async def test_two_processes_raise_one_banner_and_agree_on_stale(
    redis_server: RedisServer, make_server: MakeServer, tmp_path: Path
) -> None:
    board = tmp_path / "dashboard.toml"
    board.write_text(BOARD)
    env = redis_settings(redis_server, LIVEDASH_CONFIG=str(board))
    first, second = make_server(env).start(), make_server(env).start()
    async with (
        client_for(first) as one,
        client_for(second) as two,
        open_stream(one, STREAMS["json"]) as on_first,
        open_stream(two, STREAMS["json"]) as on_second,
    ):
        assert (await on_first.next_event()).event == "snapshot"
        assert (await on_second.next_event()).event == "snapshot"

        async def one_producer() -> list[bool] | None:
            producers = [(await readiness(client))[1]["producer"] for client in (one, two)]
            return producers if sorted(producers) == [False, True] else None

        await wait_for(one_producer, 15, "one of the two processes holds the producers lease")

        async def banner(severity: str) -> bool | None:
            async with client_for(first) as probe:
                page = (await probe.get("/")).text
            return True if f'id="alert-rule-p95" class="alert alert--{severity} {severity}"' in page else None

        await post_metric(two, "p95", 450)
        await wait_for(lambda: banner("warning"), 10, "the rule's banner is up")
        await post_metric(one, "p95", 900)
        await wait_for(lambda: banner("critical"), 10, "the rule's banner is critical")
        raised = unique("raised")
        await post_activity(one, raised)
        await post_metric(two, "p95", 100)
        resolved = unique("resolved")

        async def gone() -> bool | None:
            return True if 'id="alert-rule-p95"' not in (await two.get("/")).text else None

        await wait_for(gone, 10, "the rule's banner is resolved")
        await post_activity(two, resolved)
        first_events = await until_marker(on_first, raised) + await until_marker(on_first, resolved)
        second_events = await until_marker(on_second, raised) + await until_marker(on_second, resolved)

        await post_metric(one, "job", 5)
        stale_first = [
            e for e in [await on_first.next_event(10) for _ in range(2)] if e.event == "metric-stale"
        ]
        stale_second = [
            e for e in [await on_second.next_event(10) for _ in range(2)] if e.event == "metric-stale"
        ]
        pages = [(await client.get("/")).text for client in (one, two)]
        assert (await one.delete("/api/metrics/p95")).status_code == 200
        removed = [await on_first.next_event(10), await on_second.next_event(10)]
    # A process started now loads the state Redis folded (append.lua): stale kept, removal too.
    third = make_server(env).start()
    async with client_for(third) as three:
        late_page = (await three.get("/")).text

    expected = [("alert", "warning"), ("alert", "critical"), ("alert-resolved", "")]
    assert rule_alerts(first_events) == expected
    assert rule_alerts(second_events) == expected
    assert [e.id for e in first_events] == [e.id for e in second_events]
    assert len(stale_first) == len(stale_second) == 1 and stale_first[0].id == stale_second[0].id
    for page in pages:
        states = {
            str(attrs["id"]): attrs["data-state"]
            for tag, attrs in elements(page)
            if tag == "article" and attrs.get("id") in ("metric-job", "metric-p95")
        }
        assert states == {"metric-p95": "ok", "metric-job": "stale"}
    assert [event.event for event in removed] == ["metric-removed", "metric-removed"]
    late = {str(attrs["id"]): attrs["data-state"] for tag, attrs in elements(late_page) if tag == "article"}
    assert late == {"metric-job": "stale"}


async def loaded(redis_server: RedisServer, prefix: str) -> DashboardState:
    """The state a process starting now loads from Redis (load.lua)."""
    settings = Settings(demo=False, db_path="", card_rate=0)
    dashboard = Dashboard(settings, Renderer(make_environment()), RedisHub(redis_server.url, prefix, 100, 10))
    await dashboard.start()
    await dashboard.hub.close()
    return dashboard.state


async def test_append_lua_folds_a_stale_mark_only_while_its_point_is_newest(
    redis_server: RedisServer,
) -> None:
    """The same decision as the Python fold, so every process and every later start agree."""
    prefix = unique("ldt")
    settings = Settings(demo=False, db_path="", card_rate=0)
    hub = RedisHub(redis_server.url, prefix, 100, 10)
    dashboard = Dashboard(settings, Renderer(make_environment()), hub)
    await dashboard.start()
    readers = [asyncio.create_task(work) for work in hub.background()]
    try:
        await dashboard.publish([MetricUpdated("cpu", 1.0, 10.0), MetricUpdated("cpu", 2.0, 20.0)])
        await dashboard.publish([MetricStale("cpu", 1.0, 10.0, None)])  # beaten by the point at 20
        assert (await loaded(redis_server, prefix)).metrics["cpu"].stale is False
        assert dashboard.state.metrics["cpu"].stale is False
        await dashboard.publish([MetricStale("cpu", 2.0, 20.0, 1.0)])
        state = await loaded(redis_server, prefix)
        assert state.metrics["cpu"] == MetricValue("cpu", 2.0, 20.0, 1.0, stale=True)
        assert state.metrics == dashboard.state.metrics
        await dashboard.publish([MetricUpdated("cpu", 3.0, 30.0), MetricRemoved("gone", 31.0)])
        state = await loaded(redis_server, prefix)
        assert state.metrics["cpu"] == MetricValue("cpu", 3.0, 30.0, 2.0, stale=False)
        assert state.metrics == dashboard.state.metrics
        await dashboard.publish([MetricRemoved("cpu", 32.0)])
        assert (await loaded(redis_server, prefix)).metrics == dashboard.state.metrics == {}
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await hub.close()

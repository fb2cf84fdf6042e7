"""The embedded default is durable: a restart (SIGTERM, start again) keeps what the page shows,
ids keep increasing, and a client resumes across it with its `Last-Event-ID`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    STREAMS,
    MakeServer,
    assert_increasing,
    assert_ready,
    assert_received,
    client_for,
    expect_events,
    health,
    id_key,
    ingest_each_kind,
    open_stream,
    page_regions,
    post_activity,
    post_metric,
    post_metrics,
    raise_alert,
    resolve_alert,
    unique,
)
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

SETTINGS = {"LIVEDASH_CARD_RATE": "0", "LIVEDASH_HEARTBEAT_SECONDS": "0.5"}


def durable(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**SETTINGS, "LIVEDASH_DB_PATH": str(tmp_path / "livedash.sqlite3"), **extra}


@dataclass
class Built:
    """What `build_state` put on the dashboard."""

    metrics: list[str]
    messages: list[str]
    open_alerts: list[str]
    resolved_alert: str


async def build_state(client: httpx.AsyncClient) -> Built:
    """Cards with a history (trends), feed lines of each level, alerts raised, changed, resolved.

    The last write comes right before the caller's SIGTERM: batched writes must be flushed."""
    metrics = [unique("disk"), unique("cpu"), unique("rps")]
    for i, name in enumerate(metrics):
        await post_metric(client, name, 10 + i)
    await post_metrics(client, [{"name": metrics[0], "value": 5.5}, {"name": metrics[1], "value": 99}])
    messages = [unique("line") for _ in range(4)]
    for message, level in zip(messages, ["info", "success", "warning", "error"], strict=True):
        await post_activity(client, message, actor="grace", level=level)
    open_alerts, resolved = [unique("open"), unique("open")], unique("closed")
    await raise_alert(client, open_alerts[0], "critical", "db down", "primary in eu-west")
    await raise_alert(client, resolved, "info", "soon gone")
    await raise_alert(client, open_alerts[1], "warning", "disk filling")
    await raise_alert(client, open_alerts[1], "critical", "disk full", "changed since")
    await resolve_alert(client, resolved)
    await post_metric(client, metrics[2], 0)
    return Built(metrics, messages, open_alerts, resolved)


def assert_shows(regions: dict[str, str], built: Built) -> None:
    """The regions show what was built (so that equal pages are not both empty)."""
    for name in built.metrics:
        assert f'id="metric-{name}"' in regions["metrics-grid"], regions["metrics-grid"]
    for message in built.messages:
        assert message in regions["activity-feed"], regions["activity-feed"]
    for alert_id in built.open_alerts:
        assert f'id="alert-{alert_id}"' in regions["alerts"], regions["alerts"]
    assert built.resolved_alert not in regions["alerts"]


async def page(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200, response.text
    return response.text


async def test_restart_keeps_what_the_page_shows(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(durable(tmp_path)).start()
    async with client_for(server) as client:
        await assert_ready(client, "sqlite")
        built = await build_state(client)
        before = page_regions(await page(client))
        last_id = (await health(client))["last_id"]
    assert_shows(before, built)

    server.restart()
    async with client_for(server) as client:
        await assert_ready(client, "sqlite")
        after = page_regions(await page(client))
        assert (await health(client))["last_id"] == last_id
    for region, html in before.items():
        assert after[region] == html, f"#{region} differs after the restart"


async def test_ids_keep_increasing_across_restarts(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(durable(tmp_path)).start()
    ids: list[str] = []
    for _ in range(3):
        async with client_for(server) as client:
            ids += [await post_activity(client, unique("line"), actor="t") for _ in range(3)]
            assert (await health(client))["last_id"] == ids[-1]
        server.restart()
    async with client_for(server) as client:
        assert (await health(client))["last_id"] == ids[-1]
        ids.append(await post_activity(client, unique("line"), actor="t"))
    assert_increasing(ids)


async def read_then_leave(client: httpx.AsyncClient, path: str) -> str:
    """A client reads its snapshot and a few live events, then goes away; the last id it saw."""
    async with open_stream(client, path) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [await post_activity(client, unique("seen"), actor="t") for _ in range(3)]
        assert [e.id for e in await stream.take(3)] == ids
        assert stream.parser.last_id == ids[-1]
        return ids[-1]


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_resume_across_a_restart_gets_exactly_the_missed_events(
    make_server: MakeServer, tmp_path: Path, fmt: str
) -> None:
    server = make_server(durable(tmp_path)).start()
    async with client_for(server) as client:
        last = await read_then_leave(client, STREAMS[fmt])
        missed = await ingest_each_kind([client], 18)  # after it left, before the restart
    server.restart()
    async with (
        client_for(server) as client,
        open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": last}) as stream,
    ):
        assert_received(await expect_events(stream, len(missed)), missed, fmt)
        live = await post_activity(client, unique("after"), actor="t")
        event = await stream.next_event()
        assert (event.event, event.id) == ("activity", live)
    assert_increasing([last] + [s.id for s in missed] + [live])


async def end_of_stream_at_sigterm(server: LiveServer, client: httpx.AsyncClient, path: str) -> str:
    """A browser's stream is open when the deploy's SIGTERM comes; the last id it saw."""
    async with open_stream(client, path) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [await post_activity(client, unique("seen"), actor="t") for _ in range(3)]
        assert [e.id for e in await stream.take(3)] == ids
        server.terminate()
        await stream.read_to_end(5.0)
        assert stream.parser.last_id == ids[-1]  # nothing was added at shutdown, heartbeats repeat it
        return ids[-1]


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_browser_like_client_resumes_across_a_deploy(
    make_server: MakeServer, tmp_path: Path, fmt: str
) -> None:
    """Stream open at SIGTERM; the new process comes up and gets events; the client comes
    back with its last id (as EventSource does after `retry:`) and gets each of them once."""
    server = make_server(durable(tmp_path)).start()
    async with client_for(server) as client:
        last = await end_of_stream_at_sigterm(server, client, STREAMS[fmt])
    server.wait(10)
    server.start()
    async with client_for(server) as client:
        meanwhile = await ingest_each_kind([client], 6)
        async with open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": last}) as stream:
            assert_received(await expect_events(stream, len(meanwhile)), meanwhile, fmt)
            live = await post_activity(client, unique("live"), actor="t")
            assert (await stream.next_event()).id == live
    assert id_key(meanwhile[0].id) > id_key(last)


async def test_resume_from_beyond_the_window_after_a_restart_gets_a_snapshot(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(durable(tmp_path, LIVEDASH_REPLAY_WINDOW="10")).start()
    async with client_for(server) as client:
        last = await read_then_leave(client, STREAMS["json"])
        metric = unique("gone_long")
        await post_metric(client, metric, 41.5)
        newest = ""
        for _ in range(15):
            newest = unique("line")
            await post_activity(client, newest, actor="t")
    server.restart()
    async with client_for(server) as client:
        state = await health(client)
        async with open_stream(client, STREAMS["json"], headers={"Last-Event-ID": last}) as stream:
            first = await stream.next_event()
    assert (first.event, first.id) == ("snapshot", state["last_id"])
    snapshot = json.loads(first.data)
    assert snapshot["activity"][0]["message"] == newest
    assert {m["metric"]: m["value"] for m in snapshot["metrics"]}[metric] == 41.5


async def test_default_database_is_under_data_in_the_working_directory(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """No LIVEDASH_DB_PATH: `make run` twice in a row keeps the dashboard (data/ is git-ignored)."""
    server = make_server(SETTINGS, cwd=tmp_path, memory_only=False).start()
    async with client_for(server) as client:
        await assert_ready(client, "sqlite")
        built = await build_state(client)
    server.restart()
    assert (tmp_path / "data" / "livedash.sqlite3").is_file(), sorted(map(str, tmp_path.rglob("*")))
    async with client_for(server) as client:
        assert_shows(page_regions(await page(client)), built)


async def test_an_empty_path_keeps_memory_only(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server({**SETTINGS, "LIVEDASH_DB_PATH": ""}, cwd=tmp_path).start()
    async with client_for(server) as client:
        body = await assert_ready(client, "memory")
        assert body["producer"] is True  # without Redis this process is the only producer
        metric = unique("fleeting")
        await post_metric(client, metric, 1)
    server.restart()
    async with client_for(server) as client:
        regions = page_regions(await page(client))
    assert metric not in regions["metrics-grid"]
    assert list(tmp_path.iterdir()) == [], "memory only, yet something was written"

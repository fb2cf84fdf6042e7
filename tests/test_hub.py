"""The embedded hub: ids, delivery to the dashboard, and (with SQLite) surviving a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from pathlib import Path

import msgspec
import pytest

from app.domain.model import ActivityIn, AlertIn, MetricPoint, MetricUpdated, Severity
from app.hubs.base import EmbeddedHub
from app.hubs.sqlite import SqliteStore, StoreError
from app.service.dashboard import Dashboard, StreamFormat
from app.settings import Settings
from app.streaming.render import Renderer
from app.streaming.replay import id_key
from tests.test_dashboard import Sink, subscribe


async def started(settings: Settings, renderer: Renderer, hub: EmbeddedHub) -> Dashboard:
    dashboard = Dashboard(settings, renderer, hub, clock=lambda: 1_700_000_000.0)
    await dashboard.start()
    return dashboard


def sqlite_hub(path: Path, window: int = 50) -> EmbeddedHub:
    return EmbeddedHub(SqliteStore(str(path), window))


@pytest.mark.anyio
async def test_memory_hub_numbers_events_from_its_epoch(settings: Settings, renderer: Renderer) -> None:
    hub = EmbeddedHub(epoch=1234)
    dashboard = await started(settings, renderer, hub)
    assert hub.kind == "memory" and hub.problem is None and hub.background() == []
    assert dashboard.state.version == dashboard.ring.origin == "1234-0"
    assert await hub.append([MetricUpdated("a", 1.0, 1.0), MetricUpdated("a", 2.0, 2.0)]) == [
        "1234-1",
        "1234-2",
    ]
    assert await dashboard.add_activity(ActivityIn("x")) == "1234-3"
    assert dashboard.state.version == "1234-3" and dashboard.state.metrics["a"].value == 2.0
    assert await hub.older("1234-1") is None  # memory has no log beyond the ring
    await hub.close()


@pytest.mark.anyio
async def test_memory_hub_delivers_within_append(settings: Settings, renderer: Renderer) -> None:
    """By the time `append` returns, every subscriber has the event (no task, no queue)."""
    hub = EmbeddedHub(epoch=5)
    dashboard = await started(settings, renderer, hub)
    sink = await subscribe(dashboard, StreamFormat.json, "5-0")
    [event_id] = await hub.append([MetricUpdated("a", 1.0, 1.0)])
    assert [e.id for e in sink.events] == [event_id]


@pytest.mark.anyio
async def test_default_epoch_is_the_start_time_so_a_restart_never_reuses_ids(
    settings: Settings, renderer: Renderer
) -> None:
    one = await started(settings, renderer, EmbeddedHub())
    [old] = await one.add_metrics([MetricPoint("a", 1.0)])
    two = await started(settings, renderer, EmbeddedHub())
    assert id_key(two.state.version) >= id_key(old)  # a memory restart starts over, but later


# --- SQLite ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_hub_keeps_ids_increasing_across_a_restart(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "data" / "livedash.sqlite3"  # the directory is created
    hub = sqlite_hub(path)
    dashboard = await started(settings, renderer, hub)
    assert hub.kind == "sqlite" and hub.problem is None
    work = hub.background()
    assert len(work) == 1  # the writer; not started here, where close() does the writing
    work[0].close()
    before = [(await dashboard.add_metrics([MetricPoint("a", float(i))]))[0] for i in range(3)]
    epoch = before[0].partition("-")[0]
    assert before == [f"{epoch}-1", f"{epoch}-2", f"{epoch}-3"]
    await hub.close()

    again = sqlite_hub(path)
    dashboard = await started(settings, renderer, again)
    assert dashboard.state.version == before[-1]
    after = await dashboard.add_metrics([MetricPoint("a", 9.0)])
    assert after == [f"{epoch}-4"]  # same epoch, the sequence continues
    await again.close()


@pytest.mark.anyio
async def test_sqlite_hub_restores_the_state_and_the_replay_window(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    hub = sqlite_hub(path)
    dashboard = await started(settings, renderer, hub)
    await dashboard.add_metrics([MetricPoint("cpu", 1.0), MetricPoint("mem", 5.0)])
    seen = dashboard.state.version
    await dashboard.add_metrics([MetricPoint("cpu", 2.0)])
    await dashboard.add_activity(ActivityIn("deployed", "ada"))
    await dashboard.raise_alert(AlertIn("db", Severity.critical, "down"))
    await dashboard.raise_alert(AlertIn("api", Severity.info, "note"))
    await dashboard.resolve_alert("api")
    missed = dashboard.ring.since(seen)
    assert missed is not None and len(missed) == 5
    state = dashboard.state_data()
    await hub.close()

    again = sqlite_hub(path)
    restored = await started(settings, renderer, again)
    assert restored.state_data() == state
    assert restored.state.metrics["cpu"].previous == 1.0  # the trend arrow survives too
    assert restored.ring.since(seen) == missed  # the very bytes, keys included
    sink = await subscribe(restored, StreamFormat.json, seen)
    assert [e.id for e in sink.events] == [entry.id for entry in missed]
    assert json.loads(sink.events[0].data) == {"metric": "cpu", "value": 2, "ts": 1_700_000_000.0}
    snap = await subscribe(restored, StreamFormat.json, None)
    assert json.loads(snap.events[0].data)["alerts"][0]["id"] == "db"
    await again.close()


@pytest.mark.anyio
async def test_sqlite_hub_keeps_only_the_window_and_resumes_from_its_origin(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    small = msgspec.structs.replace(settings, replay_window=10)
    hub = sqlite_hub(path, window=10)
    dashboard = await started(small, renderer, hub)
    ids = [(await dashboard.add_metrics([MetricPoint("a", float(i))]))[0] for i in range(25)]
    await hub.close()

    again = sqlite_hub(path, window=10)
    restored = await started(small, renderer, again)
    assert [entry.id for entry in restored.ring.entries()] == ids[-10:]
    assert restored.ring.origin == ids[-11]
    assert restored.ring.since(ids[-11]) == restored.ring.entries()
    assert restored.ring.since(ids[-12]) is None  # older than the stored window: a snapshot
    assert restored.state.version == ids[-1]
    await again.close()


@pytest.mark.anyio
async def test_an_empty_sqlite_file_starts_at_its_epoch(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    hub = sqlite_hub(path)
    dashboard = await started(settings, renderer, hub)
    origin = dashboard.state.version
    assert origin.endswith("-0") and dashboard.ring.origin == origin
    await hub.close()
    again = sqlite_hub(path)
    assert (await started(settings, renderer, again)).state.version == origin  # the epoch was stored
    await again.close()


@pytest.mark.anyio
async def test_a_second_process_on_the_same_file_is_refused(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    hub = sqlite_hub(path)
    await started(settings, renderer, hub)
    second = sqlite_hub(path)
    with pytest.raises(StoreError, match="LIVEDASH_REDIS_URL") as info:
        await started(settings, renderer, second)
    assert str(path) in str(info.value)
    await second.close()
    await hub.close()
    third = sqlite_hub(path)  # the lock goes with the process that held it
    await started(settings, renderer, third)
    await third.close()


@pytest.mark.anyio
async def test_a_file_that_is_not_a_database_is_refused_by_name(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    path.write_bytes(os.urandom(64) + b"this is not SQLite" * 300)
    hub = sqlite_hub(path)
    with pytest.raises(StoreError, match="not a usable livedash database") as info:
        await started(settings, renderer, hub)
    assert str(path) in str(info.value)
    await hub.close()
    assert path.read_bytes().endswith(b"this is not SQLite")  # left alone for the operator


@pytest.mark.anyio
async def test_a_path_under_a_regular_file_is_refused(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where a directory should be")
    hub = sqlite_hub(blocker / "livedash.sqlite3")
    with pytest.raises(StoreError, match="cannot create the database") as info:
        await started(settings, renderer, hub)
    assert str(blocker / "livedash.sqlite3") in str(info.value)
    await hub.close()


@pytest.mark.anyio
async def test_a_restored_stream_continues_where_the_stored_one_stopped(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    """A browser that reconnects to the restarted process gets only what it missed, then live."""
    path = tmp_path / "livedash.sqlite3"
    hub = sqlite_hub(path)
    dashboard = await started(settings, renderer, hub)
    sink = Sink()
    await dashboard.subscribe(StreamFormat.html, sink.send, sink.receive, dashboard.state.version)
    await dashboard.add_metrics([MetricPoint("a", 1.0)])
    last_seen = sink.parser.last_id
    await hub.close()

    again = sqlite_hub(path)
    restored = await started(settings, renderer, again)
    resumed = await subscribe(restored, StreamFormat.html, last_seen)
    assert resumed.events == []
    await restored.add_metrics([MetricPoint("a", 2.0)])
    assert [e.event for e in resumed.events] == ["metric-a"]
    assert resumed.events[0].id is not None and last_seen is not None
    assert id_key(resumed.events[0].id) > id_key(last_seen)
    await again.close()


@pytest.mark.anyio
async def test_the_writer_persists_without_waiting_for_shutdown(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    """A crash loses at most the flush interval: the background writer commits on its own."""
    path = tmp_path / "livedash.sqlite3"
    hub = sqlite_hub(path)
    dashboard = await started(settings, renderer, hub)
    [writer] = [asyncio.create_task(work) for work in hub.background()]
    try:
        ids = await dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 2.0)])
        async with asyncio.timeout(2):
            while stored_seqs(path) != [int(i.partition("-")[2]) for i in ids]:
                await asyncio.sleep(0.02)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await hub.close()


def stored_seqs(path: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")]

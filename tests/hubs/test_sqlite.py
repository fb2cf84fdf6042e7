"""The embedded hub with a SQLite file: surviving a restart, and refusing what it cannot use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from pathlib import Path

import msgspec
import pytest

from app.domain.ids import id_key
from app.domain.model import ActivityIn, AlertIn, MetricPoint, MetricRemoved, MetricUpdated, Severity
from app.hubs.embedded import EmbeddedHub
from app.hubs.sqlite import SqliteStore, StoreError
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat
from tests.hubs.helpers import NOW, running, subscribe

pytestmark = pytest.mark.anyio


def sqlite_hub(path: Path, window: int = 50) -> EmbeddedHub:
    return EmbeddedHub(SqliteStore(str(path), window))


async def started(settings: Settings, renderer: Renderer, hub: EmbeddedHub) -> Dashboard:
    """A started dashboard whose hub's background work is not running (`close()` writes)."""
    dashboard = Dashboard(settings, renderer, hub, clock=lambda: NOW)
    await dashboard.start()
    return dashboard


def stored_seqs(path: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")]


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
    missed = dashboard.streams.ring.since(seen)
    assert missed is not None and len(missed) == 5
    state = dashboard.state_data()
    await hub.close()

    again = sqlite_hub(path)
    restored = await started(settings, renderer, again)
    assert restored.state_data() == state
    assert restored.state.metrics["cpu"].previous == 1.0  # the trend arrow survives too
    assert restored.streams.ring.since(seen) == missed  # the very bytes, keys included
    stream = await subscribe(restored, StreamFormat.json, seen)
    assert [event.id for event in stream.events] == [entry.id for entry in missed]
    assert json.loads(stream.events[0].data) == {"metric": "cpu", "value": 2, "ts": NOW}
    snapshot = await subscribe(restored, StreamFormat.json, None)
    assert [alert["id"] for alert in json.loads(snapshot.events[0].data)["alerts"]] == ["db"]
    await again.close()


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
    ring = restored.streams.ring
    assert [entry.id for entry in ring.since(ring.origin) or []] == ids[-10:]
    assert ring.origin == ids[-11]
    assert ring.since(ids[-12]) is None  # older than the stored window: a snapshot
    assert restored.state.version == ids[-1]
    await again.close()


async def test_an_empty_sqlite_file_starts_at_its_epoch(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    async with running(sqlite_hub(path), settings, renderer) as dashboard:
        origin = dashboard.state.version
        assert origin.endswith("-0") and dashboard.streams.ring.origin == origin
    async with running(sqlite_hub(path), settings, renderer) as again:
        assert again.state.version == origin  # the epoch was stored


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


async def test_a_restored_stream_continues_where_the_stored_one_stopped(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    """A browser that reconnects to the restarted process gets only what it missed, then live."""
    path = tmp_path / "livedash.sqlite3"
    async with running(sqlite_hub(path), settings, renderer) as dashboard:
        stream = await subscribe(dashboard, StreamFormat.html, dashboard.state.version)
        [sent] = await dashboard.add_metrics([MetricPoint("a", 1.0)])
        [last_seen] = [event.id for event in stream.events]
        assert last_seen == sent

    async with running(sqlite_hub(path), settings, renderer) as restored:
        resumed = await subscribe(restored, StreamFormat.html, last_seen)
        assert resumed.events == []
        [after] = await restored.add_metrics([MetricPoint("a", 2.0)])
        assert [(event.event, event.id) for event in resumed.events] == [("metric-a", after)]
        assert id_key(after) > id_key(last_seen)


async def test_the_writer_persists_without_waiting_for_shutdown(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    """A crash loses at most the flush interval: the background writer commits on its own."""
    path = tmp_path / "livedash.sqlite3"
    async with running(sqlite_hub(path), settings, renderer) as dashboard:
        ids = await dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 2.0)])
        async with asyncio.timeout(2):
            while stored_seqs(path) != [id_key(event_id)[1] for event_id in ids]:
                await asyncio.sleep(0.02)


async def test_history_is_the_same_after_a_restart_and_trimmed_to_the_retention_on_disk(
    tmp_path: Path, settings: Settings, renderer: Renderer
) -> None:
    path = tmp_path / "livedash.sqlite3"
    async with running(sqlite_hub(path), settings, renderer) as dashboard:
        for i in range(0, 3000, 7):  # 50 minutes: raw seconds past 15 min are trimmed
            await dashboard.publish([MetricUpdated("cpu", float(i % 13), NOW + i)])
        await dashboard.publish([MetricUpdated("gone", 1.0, NOW), MetricRemoved("gone", NOW + 1)])
        before = {seconds: dashboard.history.points("cpu", seconds) for seconds in (900, 3600)}
        rows = sorted(dashboard.history.series["cpu"].all_rows("cpu"))
    assert len(before[900]) == 129 and len(before[3600]) == 51  # NOW is 20 s into its minute
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM history WHERE name = 'gone'").fetchone() == (0,)
        stored = sorted(db.execute("SELECT * FROM history WHERE name = 'cpu'").fetchall())
    assert [tuple(row) for row in rows] == stored

    async with running(sqlite_hub(path), settings, renderer) as restarted:
        assert {seconds: restarted.history.points("cpu", seconds) for seconds in (900, 3600)} == before
        assert "gone" not in restarted.history.series

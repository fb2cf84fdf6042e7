"""What every hub promises, the same tests against each: memory, SQLite and Redis.

The Redis hub folds facts into its stored state in Lua (app/hubs/lua/append.lua) while every
process folds them in Python (`DashboardState.apply`); these tests prove the two folds agree,
fact kind by fact kind, on the state and on what each event did (created, previous).
"""

from __future__ import annotations

import asyncio

import pytest

from app.domain.events import Change, Event
from app.domain.history import History
from app.domain.ids import id_key
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    Level,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
    Severity,
)
from app.domain.state import DashboardState, MetricValue, StateData
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer
from app.streaming.replay import ReplayRing
from app.streaming.streams import StreamFormat
from tests.hubs.helpers import NOW, Backend, past_millisecond, running, subscribe, unheard

pytestmark = pytest.mark.anyio

T = NOW

FEED = [
    ActivityAdded(f"k{i}", f"line {i}", "ada" if i % 2 else None, level, T + 10 + i)
    for i, level in enumerate([Level.info, Level.success, Level.warning, Level.error] * 2)
]
"""Eight lines: more than the feed keeps (`feed_size` is 5 in these settings)."""

SCRIPT: list[tuple[Fact, Change]] = [
    (MetricUpdated("cpu", 1.5, T + 1), Change(True, None)),
    (MetricUpdated("mem", -0.125, T + 2), Change(True, None)),
    (MetricUpdated("cpu", 2.5, T + 3), Change(False, 1.5)),
    (AlertRaised("db", Severity.critical, "db down", "no answer", T + 4), Change(True)),
    (AlertRaised("api", Severity.info, "slow", None, T + 5), Change(True)),
    (AlertRaised("db", Severity.warning, "db slow", None, T + 6), Change(False)),  # replaced in place
    (AlertResolved("api", T + 7), Change(True)),
    (AlertResolved("never-raised", T + 8), Change(False)),
    (AlertRaised("api", Severity.warning, "slow again", None, T + 9), Change(True)),  # now after db
    *[(item, Change(True)) for item in FEED],
    (MetricUpdated("disk", 7.0, T + 21), Change(True, None)),
    (MetricStale("disk", 7.0, T + 21, None), Change(True, None)),  # marks its newest point stale
    (MetricStale("disk", 7.0, T + 21, None), Change(False, None)),  # stale already
    (MetricStale("mem", 99.0, T + 2, -0.125), Change(False, -0.125)),  # not the newest point: no mark
    (MetricUpdated("gone", 1.0, T + 22), Change(True, None)),
    (MetricRemoved("gone", T + 23), Change(True)),
    (MetricRemoved("gone", T + 24), Change(False)),  # removed already
    (MetricUpdated("cpu", 2.5, T + 20), Change(False, 2.5)),  # the same value again
    (AlertResolved("gone-already", T + 30), Change(False)),  # the newest timestamp changes nothing
    (MetricUpdated("mem", 4.0, T + 25), Change(False, -0.125)),  # older than the newest seen
]
"""Every fact kind, each way it can fold, and what folding it did."""

FACTS = [fact for fact, _ in SCRIPT]
BATCHES = [FACTS[:3], FACTS[3:9], FACTS[9:10], FACTS[10:-1], FACTS[-1:]]
"""`FACTS` as appends of several sizes (the last alone: the newest timestamp is in an earlier one)."""


async def publish_batches(dashboard: Dashboard) -> list[str]:
    """`BATCHES`, appended in turn; the ids of all their events."""
    ids = []
    for batch in BATCHES:
        ids += await dashboard.publish(batch)
    return ids


def folded(version: str) -> StateData:
    """The state after `SCRIPT`, written out."""
    return StateData(
        version,
        metrics=[
            MetricValue("cpu", 2.5, T + 20, 2.5),
            MetricValue("mem", 4.0, T + 25, -0.125),
            MetricValue("disk", 7.0, T + 21, None, stale=True),
        ],
        feed=list(reversed(FEED))[:5],
        alerts=[
            AlertRaised("db", Severity.warning, "db slow", None, T + 6),
            AlertRaised("api", Severity.warning, "slow again", None, T + 9),
        ],
        updated_at=T + 30,
    )


def ids_since(ring: ReplayRing, event_id: str) -> list[str]:
    """Ids of what the window holds after `event_id` (which it must know)."""
    entries = ring.since(event_id)
    assert entries is not None, event_id
    return [entry.id for entry in entries]


def test_the_python_fold_does_what_the_script_says(settings: Settings) -> None:
    state = DashboardState(settings.feed_size)
    assert [state.apply(fact) for fact in FACTS] == [change for _, change in SCRIPT]
    state.version = "1-1"
    assert state.to_data() == folded("1-1")


async def test_every_fact_kind_folds_live_as_the_python_fold_does(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    async with running(backend.hub(), settings, renderer) as dashboard:
        origin = dashboard.state.version
        ids = await publish_batches(dashboard)
        assert dashboard.state_data() == folded(ids[-1])
        history = History(settings.history_seconds)
        frames = FrameEncoder(renderer, dashboard.board, history)
        expected = []
        for event_id, (fact, change) in zip(ids, SCRIPT, strict=True):
            history.apply(fact)  # each card frame draws the history as it was at its event
            expected.append(frames.encode(Event(event_id, fact), change))
        assert dashboard.streams.ring.since(origin) == expected


async def test_replayed_events_carry_what_the_python_fold_did(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    """Redis keeps (created, previous) with every event, from the Lua fold, so a process that
    replays history renders it without the state: it must be what the Python fold computes.
    The embedded hubs keep no history beyond the window, which the dashboard encoded itself."""
    async with running(backend.hub(), settings, renderer) as dashboard:
        origin = dashboard.state.version
        ids = await dashboard.publish(FACTS)
        replayed = await dashboard.hub.older(origin)
        if backend.kind == "redis":
            assert replayed == [
                (Event(event_id, fact), change) for event_id, (fact, change) in zip(ids, SCRIPT, strict=True)
            ]
            assert await dashboard.hub.older(ids[8]) == replayed[9:]
        else:
            assert replayed is None


async def test_a_restarted_hub_restores_the_folded_state_and_ids_keep_increasing(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    async with running(backend.hub(), settings, renderer) as dashboard:
        ids = await publish_batches(dashboard)
        assert dashboard.state_data() == folded(ids[-1])
    if backend.kind == "memory":
        await past_millisecond(id_key(ids[-1])[0])  # the next epoch: a memory hub's restart

    async with running(backend.hub(), settings, renderer) as restarted:
        if backend.kind == "memory":  # nothing is kept: it starts empty, at its new epoch
            origin = restarted.state.version
            assert restarted.state_data() == StateData(origin)
            assert origin.endswith("-0") and restarted.streams.ring.origin == origin
            assert len(restarted.streams.ring) == 0
        else:
            assert restarted.state_data() == folded(ids[-1])
        [after] = await restarted.publish([MetricUpdated("cpu", 3.0, T + 40)])
        assert id_key(after) > id_key(ids[-1])
        assert restarted.state.version == after
        assert restarted.state.metrics["cpu"] == (
            MetricValue("cpu", 3.0, T + 40, None)
            if backend.kind == "memory"
            else MetricValue("cpu", 3.0, T + 40, 2.5)
        )


async def test_resuming_after_an_id_gives_exactly_the_events_after_it(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    async with running(backend.hub(), settings, renderer) as dashboard:
        origin = dashboard.state.version
        ids = await dashboard.publish([MetricUpdated(f"m{i % 3}", float(i), T + i) for i in range(12)])
        ring = dashboard.streams.ring
        assert ids_since(ring, origin) == ids
        for k, event_id in enumerate(ids):
            assert ids_since(ring, event_id) == ids[k + 1 :]
            older = await dashboard.hub.older(event_id)
            if backend.kind == "redis":
                assert older is not None and [event.id for event, _ in older] == ids[k + 1 :]
            else:
                assert older is None

    async with running(backend.hub(), settings, renderer) as restarted:
        resumed = await subscribe(restarted, StreamFormat.json, ids[3])
        if backend.kind == "memory":  # it kept nothing to resume from: the client gets the state
            assert [event.event for event in resumed.events] == ["snapshot"]
        else:
            assert [event.id for event in resumed.events] == ids[4:]
        [live] = await restarted.publish([MetricUpdated("m0", 99.0, T + 99)])
        assert resumed.events[-1].id == live


async def test_ids_increase_and_events_arrive_in_append_order(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    async with running(backend.hub(), settings, renderer) as dashboard:
        stream = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
        batches = await asyncio.gather(
            *(
                dashboard.publish([MetricUpdated(f"m{i}", float(j), T + j) for j in range(3)])
                for i in range(5)
            )
        )
        delivered = [str(event.id) for event in stream.events]
        assert sorted(delivered) == sorted(event_id for batch in batches for event_id in batch)
        keys = [id_key(event_id) for event_id in delivered]
        assert keys == sorted(keys) and len(set(keys)) == 15  # strictly increasing
        for batch in batches:  # each append's events arrive together, in the order given
            start = delivered.index(batch[0])
            assert delivered[start : start + 3] == batch
        assert dashboard.state.version == delivered[-1]


async def test_a_fact_the_hub_does_not_know_fails_loudly_and_records_nothing(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    async with running(backend.hub(), settings, renderer) as dashboard:
        [first] = await dashboard.publish([MetricUpdated("cpu", 1.0, T + 1)])
        before = dashboard.state_data()
        with pytest.raises(TypeError, match="Unheard"):  # a known fact beside it is refused too
            await dashboard.publish([MetricUpdated("mem", 5.0, T + 2), unheard(T + 2)])
        assert dashboard.state_data() == before
        assert dashboard.streams.ring.since(first) == []
        [after] = await dashboard.publish([MetricUpdated("cpu", 2.0, T + 3)])
        assert id_key(after) > id_key(first)
        if backend.kind != "redis":  # the embedded hub counts: the refused batch took no id
            assert id_key(after) == (id_key(first)[0], id_key(first)[1] + 1)
        assert ids_since(dashboard.streams.ring, first) == [after]
        kept = dashboard.state_data()
    assert kept == StateData(after, [MetricValue("cpu", 2.0, T + 3, 1.0)], updated_at=T + 3)

    if backend.kind != "memory":
        async with running(backend.hub(), settings, renderer) as restarted:
            assert restarted.state_data() == kept


HISTORY_FACTS: list[Fact] = [
    MetricUpdated("cpu", 1.5, T + 0.2),
    MetricUpdated("cpu", 2.5, T + 0.7),  # the same second, newer: replaces it
    MetricUpdated("cpu", 9.0, T + 0.5),  # the same second, older: counted, not drawn
    MetricUpdated("cpu", -0.1, T + 61.25),
    *[MetricUpdated("cpu", float(i % 11) / 3, T + 100 + i * 13) for i in range(100)],  # 21 min
    MetricUpdated("cpu", 1e300, T + 500),  # late, but within the kept range
    MetricUpdated("cpu", 4.0, T - 90_000),  # older than anything kept: ignored
    MetricUpdated("gone", 1.0, T + 5),
    MetricRemoved("gone", T + 6),
    MetricUpdated("mem", 0.0, T + 1),
]
"""Points that replace, count, arrive late or too late, trim the raw seconds, and a removal."""


def python_history(settings: Settings) -> History:
    history = History(settings.history_seconds)
    for fact in HISTORY_FACTS:
        history.apply(fact)
    return history


def every_row(history: History) -> list[tuple[object, ...]]:
    return sorted(tuple(row) for name, series in history.series.items() for row in series.all_rows(name))


async def test_every_hub_keeps_the_history_the_python_fold_keeps_and_restores_it(
    backend: Backend, settings: Settings, renderer: Renderer
) -> None:
    """Redis folds history in Lua (append.lua), so its stored rows must be the Python fold's
    exactly; SQLite stores the Python fold's rows; both restore them after a restart."""
    expected = every_row(python_history(settings))
    assert len(expected) > 60  # raw seconds and buckets of cpu and mem, none of `gone`
    async with running(backend.hub(), settings, renderer) as dashboard:
        for start in range(0, len(HISTORY_FACTS), 7):
            await dashboard.publish(HISTORY_FACTS[start : start + 7])
        assert every_row(dashboard.history) == expected
    if backend.kind == "memory":
        return
    async with running(backend.hub(), settings, renderer) as restarted:
        assert every_row(restarted.history) == expected
        assert restarted.history.points("cpu", 3600) == python_history(settings).points("cpu", 3600)

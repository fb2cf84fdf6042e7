"""The ingest -> throttle -> hub -> state -> render -> fan-out pipeline, without HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from app.domain.events import Event
from app.domain.ids import format_id
from app.domain.model import ActivityIn, AlertIn, Fact, MetricPoint, Severity
from app.hubs.base import HubUnavailable
from app.hubs.embedded import EmbeddedHub
from app.service.dashboard import Dashboard, UnknownAlert, UnknownMetric
from app.service.limits import LimitReached
from app.settings import Settings
from app.streaming.fanout import Closed
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat
from tests.support.fakes import Clock, FakeConnection
from tests.support.sse_client import Parser


async def subscribe(dashboard: Dashboard, fmt: StreamFormat, last_id: str | None) -> FakeConnection:
    conn = FakeConnection()
    await dashboard.streams.subscribe(fmt, conn.send, last_id)
    return conn


def retry_of(conn: FakeConnection) -> int | None:
    """The `retry:` the stream asked for (the parser keeps the last one)."""
    parser = Parser()
    parser.feed(conn.data.decode())
    return parser.retry


class FlakyHub(EmbeddedHub):
    """The embedded hub, but refusing appends while `down` (as Redis does in an outage)."""

    down = False
    refused = 0

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        if self.down:
            self.refused += 1
            raise HubUnavailable("down for the test")
        return await super().append(facts)


async def throttled(
    settings: Settings, renderer: Renderer, clock: Clock, hub: EmbeddedHub | None = None
) -> Dashboard:
    dashboard = Dashboard(msgspec.structs.replace(settings, card_rate=4), renderer, hub, monotonic=clock)
    await dashboard.start()
    return dashboard


@pytest.mark.anyio
async def test_start_gives_the_memory_hub_an_origin_to_resume_from(dashboard: Dashboard) -> None:
    """Before any event a page is at the ring's origin, and a stream resumed there misses nothing."""
    assert dashboard.hub.kind == "memory"
    origin = dashboard.state.version
    assert origin.endswith("-0") and dashboard.streams.ring.origin == origin
    sink = await subscribe(dashboard, StreamFormat.json, origin)
    assert sink.events == []
    [first] = await dashboard.add_metrics([MetricPoint("a", 1.0)])
    assert first == origin.removesuffix("0") + "1"
    assert [e.id for e in sink.events] == [first]


@pytest.mark.anyio
async def test_metric_events_name_the_element_they_swap(dashboard: Dashboard) -> None:
    sink = await subscribe(dashboard, StreamFormat.html, dashboard.state.version)
    await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    await dashboard.add_metrics([MetricPoint("cpu", 2.5)])
    assert [e.event for e in sink.events] == ["new-metric", "metric-cpu"]
    assert 'id="metric-cpu"' in sink.events[1].data
    assert 'data-value="2.5"' in sink.events[1].data
    assert retry_of(sink) == dashboard.settings.retry_ms


@pytest.mark.anyio
async def test_json_stream_carries_the_documented_payloads(dashboard: Dashboard) -> None:
    sink = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    await dashboard.add_metrics([MetricPoint("page_views", 1234.0, ts=5.0)])
    await dashboard.add_activity(ActivityIn("hi", "ada"))
    await dashboard.raise_alert(AlertIn("db", Severity.warning, "slow"))
    await dashboard.resolve_alert("db")
    assert [e.event for e in sink.events] == ["metric-update", "activity", "alert", "alert-resolved"]
    assert json.loads(sink.events[0].data) == {"metric": "page_views", "value": 1234, "ts": 5.0}
    assert json.loads(sink.events[1].data)["message"] == "hi"
    assert json.loads(sink.events[2].data)["severity"] == "warning"
    assert json.loads(sink.events[3].data)["id"] == "db"
    assert all(e.id for e in sink.events)


@pytest.mark.anyio
async def test_ingest_returns_the_ids_the_streams_carry(dashboard: Dashboard) -> None:
    sink = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    ids = await dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 2.0)])
    ids.append(await dashboard.add_activity(ActivityIn("x")))
    ids.append(await dashboard.raise_alert(AlertIn("x", Severity.info, "x")))
    ids.append(await dashboard.resolve_alert("x"))
    assert [e.id for e in sink.events] == ids
    assert dashboard.state.version == ids[-1] == dashboard.streams.ring.last_id


@pytest.mark.anyio
async def test_every_event_is_rendered_once_whatever_the_number_of_clients(dashboard: Dashboard) -> None:
    renders = 0
    render = dashboard.frames._render

    def counting(template: str, **context: Any) -> str:
        nonlocal renders
        renders += 1
        return render(template, **context)

    dashboard.frames._render = counting
    sinks = [await subscribe(dashboard, StreamFormat.html, dashboard.state.version) for _ in range(20)]
    await dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 2.0)])
    assert renders == 2
    assert all(len(s.events) == 2 for s in sinks)


@pytest.mark.anyio
async def test_resume_replays_exactly_what_was_missed(dashboard: Dashboard) -> None:
    await dashboard.add_metrics([MetricPoint("a", 1.0)])
    seen = dashboard.state.version
    ids = [(await dashboard.add_metrics([MetricPoint("a", float(i))]))[0] for i in range(20)]
    sink = await subscribe(dashboard, StreamFormat.json, seen)
    assert [e.id for e in sink.events] == ids
    assert [json.loads(e.data)["value"] for e in sink.events] == list(range(20))
    live = await dashboard.add_activity(ActivityIn("after the catch-up"))
    assert [e.id for e in sink.events] == [*ids, live]  # and then live, with nothing repeated


@pytest.mark.anyio
async def test_resume_from_the_newest_id_sends_nothing_but_live_events(dashboard: Dashboard) -> None:
    await dashboard.add_metrics([MetricPoint("a", 1.0)])
    sink = await subscribe(dashboard, StreamFormat.html, dashboard.streams.ring.last_id)
    assert sink.events == [] and retry_of(sink) == dashboard.settings.retry_ms
    await dashboard.add_metrics([MetricPoint("a", 2.0)])
    assert [e.event for e in sink.events] == ["metric-a"]


@pytest.mark.anyio
async def test_an_id_older_than_the_window_gets_a_snapshot(dashboard: Dashboard) -> None:
    first = (await dashboard.add_metrics([MetricPoint("a", 0.0)]))[0]
    for i in range(dashboard.settings.replay_window + 1):
        await dashboard.add_metrics([MetricPoint("a", float(i))])
    assert dashboard.streams.ring.since(first) is None
    sink = await subscribe(dashboard, StreamFormat.json, first)
    assert [e.event for e in sink.events] == ["snapshot"]
    assert sink.events[0].id == dashboard.state.version


@pytest.mark.anyio
async def test_unknown_or_missing_id_gets_a_snapshot_first(dashboard: Dashboard) -> None:
    await dashboard.add_metrics([MetricPoint("a", 7.0)])
    await dashboard.add_activity(ActivityIn("<b>hi</b>"))
    await dashboard.raise_alert(AlertIn("x", Severity.critical, "down"))
    for last_id in (None, "", "nonsense", "1-1", "99999999999999-1"):
        sink = await subscribe(dashboard, StreamFormat.json, last_id)
        assert [e.event for e in sink.events] == ["snapshot"], last_id
        snap = json.loads(sink.events[0].data)
        assert snap["metrics"] == [{"metric": "a", "value": 7, "ts": 1_700_000_000.0}]
        assert snap["activity"][0]["message"] == "<b>hi</b>"
        assert [a["id"] for a in snap["alerts"]] == ["x"]
        assert sink.events[0].id == dashboard.state.version
    html = await subscribe(dashboard, StreamFormat.html, None)
    assert html.events[0].event == "snapshot"
    assert 'hx-swap-oob="innerHTML"' in html.events[0].data
    assert "&lt;b&gt;hi&lt;/b&gt;" in html.events[0].data


@pytest.mark.anyio
async def test_snapshot_is_encoded_once_per_version(dashboard: Dashboard) -> None:
    await dashboard.add_metrics([MetricPoint("a", 7.0)])
    assert dashboard.streams.snapshot() is dashboard.streams.snapshot()
    first = dashboard.streams.snapshot()
    await dashboard.add_metrics([MetricPoint("a", 8.0)])
    assert dashboard.streams.snapshot() is not first


@pytest.mark.anyio
async def test_heartbeat_repeats_the_latest_id(dashboard: Dashboard) -> None:
    sink = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    await dashboard.add_metrics([MetricPoint("a", 1.0)])
    dashboard.heartbeat()
    assert sink.events[-1].event == "heartbeat"
    assert sink.events[-1].id == dashboard.state.version


@pytest.mark.anyio
async def test_resolving_an_unknown_alert_publishes_nothing(dashboard: Dashboard) -> None:
    before = dashboard.state.version
    with pytest.raises(UnknownAlert):
        await dashboard.resolve_alert("nope")
    assert dashboard.state.version == before


@pytest.mark.anyio
async def test_close_streams_ends_subscriptions_and_refuses_new_ones(dashboard: Dashboard) -> None:
    conn = FakeConnection()
    sub = await dashboard.streams.subscribe(StreamFormat.html, conn.send, None)
    assert len(dashboard.streams) == 1
    dashboard.streams.close_all()
    assert sub.closed.result() is Closed.shutdown
    late = await dashboard.streams.subscribe(StreamFormat.json, conn.send, None)
    assert late.closed.result() is Closed.shutdown
    assert len(dashboard.streams) == 0


@pytest.mark.anyio
async def test_metric_and_alert_limits_refuse_whole_batches(settings: Settings, renderer: Renderer) -> None:
    small = msgspec.structs.replace(settings, max_metrics=3, max_alerts=1)
    dashboard = Dashboard(small, renderer)
    await dashboard.start()
    await dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 1.0)])
    before = dashboard.state.version
    with pytest.raises(LimitReached) as info:
        await dashboard.add_metrics([MetricPoint("a", 2.0), MetricPoint("c", 1.0), MetricPoint("d", 1.0)])
    assert info.value.field == "name"
    assert dashboard.state.version == before and dashboard.state.metrics["a"].value == 1.0
    await dashboard.add_metrics([MetricPoint("a", 3.0), MetricPoint("c", 1.0)])  # known names always pass
    await dashboard.raise_alert(AlertIn("x", Severity.info, "one"))
    await dashboard.raise_alert(AlertIn("x", Severity.warning, "same id replaces"))
    with pytest.raises(LimitReached, match="LIVEDASH_MAX_ALERTS"):
        await dashboard.raise_alert(AlertIn("y", Severity.info, "two"))


# --- the per-card throttle ------------------------------------------------------------


@pytest.mark.anyio
async def test_a_card_updating_faster_than_card_rate_is_held_and_flushed(
    settings: Settings, renderer: Renderer
) -> None:
    clock = Clock()
    dashboard = await throttled(settings, renderer, clock)
    sink = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    first = await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    clock.now += 0.1
    assert await dashboard.add_metrics([MetricPoint("cpu", 2.0)]) == []  # within 250 ms: held
    clock.now += 0.1
    assert await dashboard.add_metrics([MetricPoint("cpu", 3.0)]) == []  # replaces 2.0
    assert dashboard.state.metrics["cpu"].value == 1.0 and len(dashboard.throttle) == 1
    assert [e.id for e in sink.events] == first
    await dashboard.throttle.flush()
    assert dashboard.state.metrics["cpu"].value == 3.0 and len(dashboard.throttle) == 0
    assert [json.loads(e.data)["value"] for e in sink.events] == [1, 3]
    assert sink.events[1].id == dashboard.streams.ring.last_id  # a normal event: it has an id and replays


@pytest.mark.anyio
async def test_run_throttle_publishes_a_held_point_when_its_card_may_send_again(
    settings: Settings, renderer: Renderer
) -> None:
    clock = Clock()
    dashboard = await throttled(settings, renderer, clock)
    sink = await subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    await dashboard.add_metrics([MetricPoint("cpu", 1.0), MetricPoint("mem", 1.0)])
    clock.now += 0.1
    assert await dashboard.add_metrics([MetricPoint("cpu", 2.0)]) == []
    task = asyncio.create_task(dashboard.throttle.run())
    try:
        for _ in range(5):
            await asyncio.sleep(0)
        assert dashboard.state.metrics["cpu"].value == 1.0  # not before its slot
        clock.now += 0.15  # the card's slot: 250 ms after it last sent
        async with asyncio.timeout(2):
            while dashboard.state.metrics["cpu"].value != 2.0:
                await asyncio.sleep(0.01)
        assert [json.loads(e.data)["metric"] for e in sink.events] == ["cpu", "mem", "cpu"]
        assert len(dashboard.throttle) == 0
        clock.now += 0.1  # released at its slot, so the next point waits for the next one
        assert await dashboard.add_metrics([MetricPoint("cpu", 3.0)]) == []
        clock.now += 0.15
        async with asyncio.timeout(2):  # woken for the newly held card, not left waiting
            while dashboard.state.metrics["cpu"].value != 3.0:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.anyio
async def test_throttle_keeps_the_newest_point_of_a_batch(settings: Settings, renderer: Renderer) -> None:
    dashboard = await throttled(settings, renderer, Clock())
    ids = await dashboard.add_metrics([MetricPoint("cpu", 1.0), MetricPoint("cpu", 2.0)])
    assert len(ids) == 1 and dashboard.state.metrics["cpu"].value == 2.0
    assert dashboard.state.metrics["cpu"].previous is None  # 1.0 never went out


@pytest.mark.anyio
async def test_card_rate_zero_publishes_every_point(dashboard: Dashboard) -> None:
    ids = await dashboard.add_metrics([MetricPoint("cpu", float(i)) for i in range(10)])
    assert len(ids) == 10 and len(dashboard.throttle) == 0


@pytest.mark.anyio
async def test_points_of_a_refused_request_never_go_out_later(settings: Settings, renderer: Renderer) -> None:
    """A 503 means "not recorded": a held point of that request must not surface afterwards."""
    clock = Clock()
    hub = FlakyHub()
    dashboard = await throttled(settings, renderer, clock, hub)
    await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    clock.now += 0.1
    hub.down = True
    with pytest.raises(HubUnavailable):
        await dashboard.add_metrics([MetricPoint("cpu", 2.0), MetricPoint("mem", 1.0)])
    assert len(dashboard.throttle) == 0
    hub.down = False
    await dashboard.throttle.flush()
    assert dashboard.state.metrics["cpu"].value == 1.0 and "mem" not in dashboard.state.metrics


@pytest.mark.anyio
async def test_held_points_wait_out_an_outage_and_then_go_out(settings: Settings, renderer: Renderer) -> None:
    clock = Clock()
    hub = FlakyHub()
    dashboard = await throttled(settings, renderer, clock, hub)
    await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    clock.now += 0.1
    assert await dashboard.add_metrics([MetricPoint("cpu", 2.0)]) == []
    hub.down = True
    clock.now += 0.5
    task = asyncio.create_task(dashboard.throttle.run())
    try:
        async with asyncio.timeout(2):  # the throttle tried to send it, and the hub refused
            while hub.refused == 0:
                await asyncio.sleep(0.01)
        assert len(dashboard.throttle) == 1  # refused, so held again rather than lost
        assert dashboard.state.metrics["cpu"].value == 1.0
        hub.down = False
        clock.now += 1.0
        async with asyncio.timeout(3):
            while dashboard.state.metrics["cpu"].value != 2.0:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class DownRedis(EmbeddedHub):
    """A hub that says what Redis says in an outage: kind `redis`, with a problem."""

    @property
    def problem(self) -> str | None:
        return "connection refused"

    def check_accepting(self) -> None:
        if self.kind == "redis":  # as RedisHub refuses while it has a problem
            raise HubUnavailable(f"event hub unavailable ({self.problem}); nothing was recorded, retry")

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        self.check_accepting()
        return await super().append(facts)


@pytest.mark.anyio
async def test_a_redis_hub_with_a_problem_refuses_before_anything_is_held(
    settings: Settings, renderer: Renderer
) -> None:
    """Nothing of a 503 request may wait in the throttle to go out once Redis is back."""
    clock = Clock()
    hub = DownRedis()
    dashboard = await throttled(settings, renderer, clock, hub)
    hub.kind = "redis"
    with pytest.raises(HubUnavailable, match="connection refused"):
        await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    with pytest.raises(HubUnavailable, match="nothing was recorded"):
        await dashboard.add_activity(ActivityIn("x"))
    assert len(dashboard.throttle) == 0 and dashboard.state.metrics == {}
    hub.kind = "memory"  # the embedded hub keeps working whatever its store says
    assert len(await dashboard.add_metrics([MetricPoint("cpu", 1.0)])) == 1


class LaggingHub(EmbeddedHub):
    """Commits at once but delivers later, like a Redis reader a little behind the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.on_the_way: list[Event] = []
        self.waited_for: list[str] = []

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        sink = self._sink
        assert sink is not None
        events = [Event(format_id(self._epoch, seq), fact) for seq, fact in enumerate(facts, self._seq + 1)]
        self._seq += len(events)
        self.on_the_way += events
        return [event.id for event in events]

    async def caught_up(self, event_id: str) -> None:
        self.waited_for.append(event_id)
        assert self._sink is not None
        events, self.on_the_way = self.on_the_way, []
        self._sink.deliver(events)


@pytest.mark.anyio
async def test_resume_with_an_id_this_process_has_not_delivered_yet_waits_instead_of_a_snapshot(
    settings: Settings, renderer: Renderer
) -> None:
    """A client coming from a process that is ahead gets neither an older snapshot nor repeats."""
    hub = LaggingHub()
    dashboard = Dashboard(settings, renderer, hub)
    await dashboard.start()
    ids = [await dashboard.add_activity(ActivityIn(f"item {n}")) for n in range(5)]
    assert dashboard.state.version != ids[-1]  # delivered nowhere yet
    seen_elsewhere = ids[2]
    sink = await subscribe(dashboard, StreamFormat.json, seen_elsewhere)
    assert hub.waited_for == [seen_elsewhere]
    assert [(e.event, e.id) for e in sink.events] == [("activity", ids[3]), ("activity", ids[4])]


@pytest.mark.anyio
async def test_removing_a_card_publishes_its_removal_and_drops_a_held_point(
    settings: Settings, renderer: Renderer
) -> None:
    now = 0.0
    dashboard = Dashboard(msgspec.structs.replace(settings, card_rate=1), renderer, monotonic=lambda: now)
    await dashboard.start()
    await dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    await dashboard.add_metrics([MetricPoint("cpu", 2.0)])  # held for the card's next slot
    assert len(dashboard.throttle) == 1
    await dashboard.remove_metric("cpu")
    assert (len(dashboard.throttle), "cpu" in dashboard.state.metrics) == (0, False)
    await dashboard.throttle.flush()
    assert "cpu" not in dashboard.state.metrics  # the held point did not bring it back
    with pytest.raises(UnknownMetric):
        await dashboard.remove_metric("cpu")


@pytest.mark.anyio
async def test_a_ts_more_than_a_minute_ahead_is_refused_naming_ts(dashboard: Dashboard) -> None:
    """It would pin "updated at" (and keep the card fresh) until that time."""
    now = 1_700_000_000.0
    await dashboard.add_metrics([MetricPoint("cpu", 1.0, ts=now + 60)])
    with pytest.raises(LimitReached) as refused:
        await dashboard.add_metrics([MetricPoint("ok", 1.0), MetricPoint("cpu", 2.0, ts=now + 3600)])
    assert refused.value.field == "ts"
    assert str(refused.value) == (
        "1700003600.000 is 3600 s ahead of the server's clock (1700000000.000);"
        " at most 60 s ahead is accepted"
    )
    assert "ok" not in dashboard.state.metrics and dashboard.state.metrics["cpu"].value == 1.0

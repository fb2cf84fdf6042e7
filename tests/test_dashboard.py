"""The ingest -> state -> render -> fan-out pipeline, without HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from app.dashboard import Dashboard, LimitReached, StreamFormat, UnknownAlert
from app.model import ActivityIn, AlertIn, MetricPoint, Severity
from app.render import Renderer
from app.settings import Settings
from tests.support.sse_client import Event, Parser


class Sink:
    def __init__(self) -> None:
        self.parser = Parser()
        self.events: list[Event] = []
        self.gone: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def send(self, message: dict[str, Any]) -> None:
        self.events += self.parser.feed(message["body"].decode())

    async def receive(self) -> dict[str, Any]:
        return await self.gone


def subscribe(dashboard: Dashboard, fmt: StreamFormat, last_id: str | None) -> Sink:
    sink = Sink()
    dashboard.subscribe(fmt, sink.send, sink.receive, last_id)
    return sink


@pytest.mark.anyio
async def test_metric_events_name_the_element_they_swap(dashboard: Dashboard) -> None:
    sink = subscribe(dashboard, StreamFormat.html, dashboard.state.version)
    dashboard.add_metrics([MetricPoint("cpu", 1.0)])
    dashboard.add_metrics([MetricPoint("cpu", 2.5)])
    assert [e.event for e in sink.events] == ["new-metric", "metric-cpu"]
    assert 'id="metric-cpu"' in sink.events[1].data
    assert 'data-value="2.5"' in sink.events[1].data
    assert sink.parser.retry == dashboard.settings.retry_ms


@pytest.mark.anyio
async def test_json_stream_carries_the_documented_payloads(dashboard: Dashboard) -> None:
    sink = subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    dashboard.add_metrics([MetricPoint("page_views", 1234.0, ts=5.0)])
    dashboard.add_activity(ActivityIn("hi", "ada"))
    dashboard.raise_alert(AlertIn("db", Severity.warning, "slow"))
    dashboard.resolve_alert("db")
    assert [e.event for e in sink.events] == ["metric-update", "activity", "alert", "alert-resolved"]
    assert json.loads(sink.events[0].data) == {"metric": "page_views", "value": 1234, "ts": 5.0}
    assert json.loads(sink.events[1].data)["message"] == "hi"
    assert json.loads(sink.events[2].data)["severity"] == "warning"
    assert json.loads(sink.events[3].data)["id"] == "db"
    assert all(e.id for e in sink.events)


@pytest.mark.anyio
async def test_every_event_is_rendered_once_whatever_the_number_of_clients(dashboard: Dashboard) -> None:
    renders = 0
    render = dashboard.frames._render

    def counting(template: str, **context: Any) -> str:
        nonlocal renders
        renders += 1
        return render(template, **context)

    dashboard.frames._render = counting
    sinks = [subscribe(dashboard, StreamFormat.html, dashboard.state.version) for _ in range(20)]
    dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 2.0)])
    assert renders == 2
    assert all(len(s.events) == 2 for s in sinks)


@pytest.mark.anyio
async def test_resume_replays_exactly_what_was_missed(dashboard: Dashboard) -> None:
    dashboard.add_metrics([MetricPoint("a", 1.0)])
    seen = dashboard.state.version
    ids = dashboard.add_metrics([MetricPoint("a", float(i)) for i in range(20)])
    sink = subscribe(dashboard, StreamFormat.json, seen)
    assert [e.id for e in sink.events] == ids
    assert [json.loads(e.data)["value"] for e in sink.events] == list(range(20))


@pytest.mark.anyio
async def test_unknown_or_missing_id_gets_a_snapshot_first(dashboard: Dashboard) -> None:
    dashboard.add_metrics([MetricPoint("a", 7.0)])
    dashboard.add_activity(ActivityIn("<b>hi</b>"))
    dashboard.raise_alert(AlertIn("x", Severity.critical, "down"))
    for last_id in (None, "nonsense", "1-1"):
        sink = subscribe(dashboard, StreamFormat.json, last_id)
        assert [e.event for e in sink.events] == ["snapshot"]
        snap = json.loads(sink.events[0].data)
        assert snap["metrics"] == [{"metric": "a", "value": 7, "ts": 1_700_000_000.0}]
        assert snap["activity"][0]["message"] == "<b>hi</b>"
        assert [a["id"] for a in snap["alerts"]] == ["x"]
        assert sink.events[0].id == dashboard.state.version
    html = subscribe(dashboard, StreamFormat.html, None)
    assert html.events[0].event == "snapshot"
    assert 'hx-swap-oob="innerHTML"' in html.events[0].data
    assert "&lt;b&gt;hi&lt;/b&gt;" in html.events[0].data


@pytest.mark.anyio
async def test_snapshot_is_encoded_once_per_version(dashboard: Dashboard) -> None:
    dashboard.add_metrics([MetricPoint("a", 7.0)])
    assert dashboard.snapshot() is dashboard.snapshot()
    first = dashboard.snapshot()
    dashboard.add_metrics([MetricPoint("a", 8.0)])
    assert dashboard.snapshot() is not first


@pytest.mark.anyio
async def test_heartbeat_repeats_the_latest_id(dashboard: Dashboard) -> None:
    sink = subscribe(dashboard, StreamFormat.json, dashboard.state.version)
    dashboard.add_metrics([MetricPoint("a", 1.0)])
    dashboard.heartbeat()
    assert sink.events[-1].event == "heartbeat"
    assert sink.events[-1].id == dashboard.state.version


@pytest.mark.anyio
async def test_resolving_an_unknown_alert_publishes_nothing(dashboard: Dashboard) -> None:
    before = dashboard.state.version
    with pytest.raises(UnknownAlert):
        dashboard.resolve_alert("nope")
    assert dashboard.state.version == before


@pytest.mark.anyio
async def test_close_streams_ends_subscriptions_and_refuses_new_ones(dashboard: Dashboard) -> None:
    sink = Sink()
    sub = dashboard.subscribe(StreamFormat.html, sink.send, sink.receive, None)
    dashboard.close_streams()
    assert sub.closed.done()
    late = dashboard.subscribe(StreamFormat.json, sink.send, sink.receive, None)
    assert late.closed.done()


def test_metric_and_alert_limits_refuse_whole_batches(settings: Settings, renderer: Renderer) -> None:
    small = msgspec.structs.replace(settings, max_metrics=3, max_alerts=1)
    dashboard = Dashboard(small, renderer)
    dashboard.add_metrics([MetricPoint("a", 1.0), MetricPoint("b", 1.0)])
    before = dashboard.state.version
    with pytest.raises(LimitReached) as info:
        dashboard.add_metrics([MetricPoint("a", 2.0), MetricPoint("c", 1.0), MetricPoint("d", 1.0)])
    assert info.value.field == "name"
    assert dashboard.state.version == before and dashboard.state.metrics["a"].value == 1.0
    dashboard.add_metrics([MetricPoint("a", 3.0), MetricPoint("c", 1.0)])  # known names always pass
    dashboard.raise_alert(AlertIn("x", Severity.info, "one"))
    dashboard.raise_alert(AlertIn("x", Severity.warning, "same id replaces"))
    with pytest.raises(LimitReached, match="LIVEDASH_MAX_ALERTS"):
        dashboard.raise_alert(AlertIn("y", Severity.info, "two"))

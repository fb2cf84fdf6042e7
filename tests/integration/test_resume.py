"""Resuming after a cut (`Last-Event-ID` / `?lastEventId=`), the page-render gap, and snapshots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    HTML_STREAM,
    STREAMS,
    SSEStream,
    assert_received,
    by_id,
    elements,
    health,
    ingest_each_kind,
    metric_values,
    open_stream,
    post_activity,
    post_metric,
    raise_alert,
    resolve_alert,
    unique,
)

pytestmark = pytest.mark.anyio


async def assert_live_next(client: httpx.AsyncClient, stream: SSEStream) -> None:
    """After the replay comes the live event ingested now, and nothing in between."""
    live = await post_activity(client, unique("live"))
    event = await stream.next_event()
    assert (event.event, event.id) == ("activity", live)


async def cut_after_some_events(client: httpx.AsyncClient, path: str) -> str:
    """Read a snapshot and a few live events, then drop the connection; the last id seen."""
    async with open_stream(client, path) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [await post_metric(client, unique("before"), i) for i in range(3)]
        assert [e.id for e in await stream.take(3)] == ids
        last = stream.parser.last_id
    assert last == ids[-1]
    return last


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_resume_with_last_event_id_header(client: httpx.AsyncClient, fmt: str) -> None:
    last = await cut_after_some_events(client, STREAMS[fmt])
    missed = await ingest_each_kind([client], 20)
    async with open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": last}) as stream:
        assert_received(await stream.take(20), missed, fmt)
        await assert_live_next(client, stream)


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_resume_with_query_parameter(client: httpx.AsyncClient, fmt: str) -> None:
    last = await cut_after_some_events(client, STREAMS[fmt])
    missed = await ingest_each_kind([client], 20)
    async with open_stream(client, STREAMS[fmt], params={"lastEventId": last}) as stream:
        assert_received(await stream.take(20), missed, fmt)
        await assert_live_next(client, stream)


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_header_wins_over_query_parameter(client: httpx.AsyncClient, fmt: str) -> None:
    older = await cut_after_some_events(client, STREAMS[fmt])
    missed = await ingest_each_kind([client], 5)
    newer = missed[2].id
    async with open_stream(
        client, STREAMS[fmt], headers={"Last-Event-ID": older}, params={"lastEventId": newer}
    ) as stream:
        assert_received(await stream.take(5), missed, fmt)
        await assert_live_next(client, stream)


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_unknown_header_is_not_overridden_by_query_parameter(
    client: httpx.AsyncClient, fmt: str
) -> None:
    last = await cut_after_some_events(client, STREAMS[fmt])
    newest = (await ingest_each_kind([client], 2))[-1].id
    async with open_stream(
        client, STREAMS[fmt], headers={"Last-Event-ID": "nonsense"}, params={"lastEventId": last}
    ) as stream:
        first = await stream.next_event()
    assert (first.event, first.id) == ("snapshot", newest)


async def test_page_render_to_connect_gap_is_replayed_exactly(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    rendered_at = (await health(client))["last_id"]
    connects = [attrs["sse-connect"] for _, attrs in elements(page.text) if "sse-connect" in attrs]
    build = elements(page.text)[0][1]["data-build"]  # <html>: the build that rendered the page
    assert connects == [f"{HTML_STREAM}?lastEventId={rendered_at}&build={build}"]
    url = str(connects[0])

    after_render = await ingest_each_kind([client], 7)
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        stream = SSEStream(response)
        events = await stream.take(7)
        assert "snapshot" not in [e.event for e in events]
        assert_received(events, after_render, "html")
        await assert_live_next(client, stream)


# --- snapshots -------------------------------------------------------------------------


@dataclass
class Known:
    """State a snapshot must show: a metric, the newest feed line, an open and a closed alert."""

    metric: str
    message: str
    open_alert: str
    closed_alert: str


async def known_state(client: httpx.AsyncClient) -> Known:
    known = Known(unique("snap"), unique("newest line"), unique("open"), unique("closed"))
    await post_metric(client, known.metric, 3)
    await post_metric(client, known.metric, 12.5)
    await raise_alert(client, known.closed_alert, "critical", "gone soon")
    await raise_alert(client, known.open_alert, "warning", "still open", "look at me")
    await resolve_alert(client, known.closed_alert)
    await post_activity(client, known.message, actor="grace")
    return known


def raw(value: Any) -> str:
    """A JSON number as the page's `data-value` writes it."""
    return str(value) if isinstance(value, int) else repr(float(value))


async def id_variant(client: httpx.AsyncClient, variant: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, params) that carry an id the server cannot resume from."""
    epoch, _, seq = str((await health(client))["last_id"]).partition("-")
    return {
        "none": ({}, {}),
        "nonsense-header": ({"Last-Event-ID": "nonsense"}, {}),
        "other-epoch-header": ({"Last-Event-ID": "1-5"}, {}),
        "future-header": ({"Last-Event-ID": f"{epoch}-{int(seq) + 1000}"}, {}),
        "nonsense-query": ({}, {"lastEventId": "nonsense"}),
        "other-epoch-query": ({}, {"lastEventId": "1-5"}),
        # int() refuses more than 4300 digits: this once ended the stream with a traceback.
        "huge-seq-header": ({"Last-Event-ID": f"{epoch}-{'9' * 5000}"}, {}),
    }[variant]


VARIANTS = [
    "none",
    "nonsense-header",
    "other-epoch-header",
    "future-header",
    "nonsense-query",
    "other-epoch-query",
    "huge-seq-header",
]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_json_snapshot_without_a_resumable_id(client: httpx.AsyncClient, variant: str) -> None:
    known = await known_state(client)
    headers, params = await id_variant(client, variant)
    state = await health(client)
    page = (await client.get("/")).text
    async with open_stream(client, STREAMS["json"], headers=headers, params=params) as stream:
        first = await stream.next_event()
        live = await post_metric(client, known.metric, 99)
        after = await stream.next_event()

    assert first.event == "snapshot"
    assert first.id == state["last_id"]
    snapshot = json.loads(first.data)
    assert set(snapshot) == {"metrics", "activity", "alerts"}
    metrics = {m["metric"]: m for m in snapshot["metrics"]}
    assert metrics[known.metric]["value"] == 12.5
    assert set(metrics[known.metric]) == {"metric", "value", "ts"}
    assert snapshot["activity"][0]["message"] == known.message
    assert snapshot["activity"][0]["actor"] == "grace"
    alerts = {a["id"]: a for a in snapshot["alerts"]}
    assert known.closed_alert not in alerts
    assert alerts[known.open_alert]["severity"] == "warning"
    assert alerts[known.open_alert]["title"] == "still open"
    assert alerts[known.open_alert]["message"] == "look at me"
    # The snapshot is the page's state: the same cards with the same raw values.
    assert {name: raw(m["value"]) for name, m in metrics.items()} == metric_values(page)
    # Then live events follow, no replay.
    assert (after.event, after.id) == ("metric-update", live)


@pytest.mark.parametrize("variant", VARIANTS)
async def test_html_snapshot_without_a_resumable_id(client: httpx.AsyncClient, variant: str) -> None:
    known = await known_state(client)
    headers, params = await id_variant(client, variant)
    state = await health(client)
    async with open_stream(client, STREAMS["html"], headers=headers, params=params) as stream:
        first = await stream.next_event()
        live = await post_metric(client, known.metric, 99)
        after = await stream.next_event()

    assert first.event == "snapshot"
    assert first.id == state["last_id"]
    regions = by_id(first.data)
    swaps = {
        region: regions[region].get("hx-swap-oob") for region in ("alerts", "metrics-grid", "activity-feed")
    }
    assert swaps == {"alerts": "innerHTML", "metrics-grid": "innerHTML", "activity-feed": "innerHTML"}
    assert metric_values(first.data)[known.metric] == "12.5"
    assert f"alert-{known.open_alert}" in regions
    assert f"alert-{known.closed_alert}" not in regions
    assert known.message in first.data
    assert (after.event, after.id) == (f"metric-{known.metric}", live)

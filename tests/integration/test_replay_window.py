"""A client away for longer than the replay window gets a snapshot, not a partial replay."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.helpers import (
    HTML_NEW_METRIC,
    STREAMS,
    health,
    open_stream,
    post_metric,
    post_metrics,
    unique,
)

pytestmark = pytest.mark.anyio

WINDOW = 10
SERVER_ENV = {"LIVEDASH_REPLAY_WINDOW": str(WINDOW)}


async def an_old_id(client: httpx.AsyncClient, path: str) -> str:
    async with open_stream(client, path) as stream:
        await stream.next_event()
        event_id = await post_metric(client, unique("old"), 1)
        assert (await stream.next_event()).id == event_id
    return event_id


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_resume_past_the_window_gets_a_snapshot(client: httpx.AsyncClient, fmt: str) -> None:
    old = await an_old_id(client, STREAMS[fmt])
    metric = unique("flood")
    last = await post_metrics(client, [{"name": metric, "value": i} for i in range(3 * WINDOW)])
    assert (await health(client))["last_id"] == last

    async with open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": old}) as stream:
        first = await stream.next_event()
        live = await post_metric(client, metric, -1)
        after = await stream.next_event()

    assert first.event == "snapshot"
    assert first.id == last
    if fmt == "json":
        metrics = {m["metric"]: m["value"] for m in json.loads(first.data)["metrics"]}
        assert metrics[metric] == 3 * WINDOW - 1
    else:
        assert f'id="metric-{metric}"' in first.data
        assert f'data-value="{3 * WINDOW - 1}"' in first.data
    assert after.id == live


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_resume_at_the_edge_of_the_window_is_replayed(client: httpx.AsyncClient, fmt: str) -> None:
    old = await an_old_id(client, STREAMS[fmt])
    metric = unique("edge")
    last = await post_metrics(client, [{"name": metric, "value": i} for i in range(WINDOW)])

    async with open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": old}) as stream:
        events = await stream.take(WINDOW)
        live = await post_metric(client, metric, -1)
        after = await stream.next_event()

    # Every event after the old id, none left out: the ids follow it one by one up to the last.
    epoch, _, seq = old.partition("-")
    assert [e.id for e in events] == [f"{epoch}-{int(seq) + i}" for i in range(1, WINDOW + 1)]
    assert events[-1].id == last
    if fmt == "json":
        assert [e.event for e in events] == ["metric-update"] * WINDOW
        assert [json.loads(e.data)["value"] for e in events] == list(range(WINDOW))
    else:
        assert [e.event for e in events] == [HTML_NEW_METRIC] + [f"metric-{metric}"] * (WINDOW - 1)
        assert all(f'data-value="{i}"' in e.data for i, e in enumerate(events))
    assert after.id == live

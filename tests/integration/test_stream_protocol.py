"""Both streams: response headers, the first frame, ids, and the named events ingest produces."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.integration.helpers import (
    HTML_NEW_ALERT,
    HTML_NEW_METRIC,
    HTML_RESOLVED_ALERT,
    HTML_STREAM,
    JSON_STREAM,
    STREAMS,
    assert_every_event_frame_has_an_id,
    frames,
    health,
    open_stream,
    post_activity,
    post_metric,
    raise_alert,
    resolve_alert,
    unique,
    wait_for,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_stream_response_headers_and_first_frame(client: httpx.AsyncClient, fmt: str) -> None:
    newest = (await health(client))["last_id"]
    async with open_stream(client, STREAMS[fmt], headers={"Accept-Encoding": "gzip"}) as stream:
        headers = stream.response.headers
        first = await stream.first_frame()
        event = await stream.next_event()
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache, no-store, no-transform"
    assert headers["connection"] == "keep-alive"
    assert headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in headers  # asked for gzip, which would hold frames back
    # A comment, so proxies see a first byte at once, and the default LIVEDASH_RETRY_MS.
    assert first == ": livedash\nretry: 2000"
    assert stream.parser.retry == 2000
    assert (event.event, event.id) == ("snapshot", newest)


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_every_event_carries_an_id(client: httpx.AsyncClient, fmt: str) -> None:
    newest = (await health(client))["last_id"]
    async with open_stream(client, STREAMS[fmt]) as stream:
        snapshot = await stream.next_event()
        assert snapshot.event == "snapshot"
        alert_id = unique("ids")
        expected = [
            await post_metric(client, unique("ids"), 1),
            await post_activity(client, "with an id"),
            await raise_alert(client, alert_id, "info", "t"),
            await resolve_alert(client, alert_id),
        ]
        events = await stream.take(len(expected))
    assert snapshot.id == newest
    assert [event.id for event in events] == expected
    assert len(set(expected)) == len(expected)
    # The parser keeps the last id for events without one, so look at the frames themselves.
    assert_every_event_frame_has_an_id(stream.text)
    assert sum(1 for frame in frames(stream.text) if any(x.startswith("data:") for x in frame)) == 5


async def test_json_stream_delivers_named_events(client: httpx.AsyncClient) -> None:
    metric = unique("cpu")
    alert_id = unique("db")
    async with open_stream(client, JSON_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [
            await post_metric(client, metric, 42.5, ts=1_700_000_000.25),
            await post_metric(client, metric, 7),
            await post_activity(client, "deployed web", actor="ada", level="success"),
            await raise_alert(client, alert_id, "critical", "DB down", "replica lag"),
            await raise_alert(client, alert_id, "warning", "DB slow"),
            await resolve_alert(client, alert_id),
        ]
        events = await stream.take(len(ids))

    assert_every_event_frame_has_an_id(stream.text)
    assert [e.id for e in events] == ids
    assert [e.event for e in events] == [
        "metric-update",
        "metric-update",
        "activity",
        "alert",
        "alert",
        "alert-resolved",
    ]
    data = [json.loads(e.data) for e in events]
    assert data[0] == {"metric": metric, "value": 42.5, "ts": 1_700_000_000.25}
    # The server stamps the others with its clock; the feed line gets a key of its own.
    stamps = [body.pop("ts") for body in data[1:]]
    assert [type(ts) for ts in stamps] == [float] * 5, stamps
    line_key = data[2].pop("id")
    assert re.fullmatch(r"[0-9a-f]{12}", line_key), line_key
    assert data[1:] == [
        {"metric": metric, "value": 7},
        {"message": "deployed web", "actor": "ada", "level": "success"},
        {"id": alert_id, "severity": "critical", "title": "DB down", "message": "replica lag"},
        {"id": alert_id, "severity": "warning", "title": "DB slow", "message": None},
        {"id": alert_id},
    ]


async def test_html_stream_delivers_partials_named_for_their_target(client: httpx.AsyncClient) -> None:
    metric = unique("cpu")
    alert_id = unique("db")
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [
            await post_metric(client, metric, 42.5),
            await post_metric(client, metric, 7),
            await post_activity(client, "deployed web", actor="ada"),
            await raise_alert(client, alert_id, "critical", "DB down"),
            await raise_alert(client, alert_id, "warning", "DB slow"),
            await resolve_alert(client, alert_id),
        ]
        events = await stream.take(len(ids))

    assert_every_event_frame_has_an_id(stream.text)
    assert [e.id for e in events] == ids
    assert [e.event for e in events] == [
        HTML_NEW_METRIC,
        f"metric-{metric}",
        "activity",
        HTML_NEW_ALERT,
        f"alert-{alert_id}",
        HTML_RESOLVED_ALERT,
    ]
    new_card, card, activity, banner, changed_banner, resolved = (e.data for e in events)
    assert f'id="metric-{metric}"' in new_card and 'data-value="42.5"' in new_card
    assert f'id="metric-{metric}"' in card and 'data-value="7"' in card
    assert 'id="activity-' in activity and "deployed web" in activity and "ada" in activity
    assert f'id="alert-{alert_id}"' in banner and "DB down" in banner and "critical" in banner
    assert f'id="alert-{alert_id}"' in changed_banner and "DB slow" in changed_banner
    assert f'id="alert-{alert_id}"' in resolved and 'hx-swap-oob="delete"' in resolved


async def test_both_streams_get_the_same_events(client: httpx.AsyncClient) -> None:
    async with open_stream(client, HTML_STREAM) as html, open_stream(client, JSON_STREAM) as js:
        await html.next_event()
        await js.next_event()

        async def both_counted() -> bool | None:  # the module's earlier streams may still be closing
            return True if (await health(client))["streams"] == 2 else None

        await wait_for(both_counted, 5.0, "exactly these two streams counted")
        ids = [await post_metric(client, unique("both"), i) for i in range(3)]
        assert [e.id for e in await html.take(3)] == ids
        assert [e.id for e in await js.take(3)] == ids


# --- names a user picks must not turn into another event's name ---------------------------


async def test_a_metric_named_new_is_not_announced_as_a_new_card(client: httpx.AsyncClient) -> None:
    """`new` is a valid metric name; its updates must not look like the grid's event for new cards."""
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [await post_metric(client, "new", 1), await post_metric(client, "new", 2)]
        events = await stream.take(2)
    assert [(e.event, e.id) for e in events] == [(HTML_NEW_METRIC, ids[0]), ("metric-new", ids[1])]


async def test_an_alert_named_resolved_is_not_announced_as_a_resolution(client: httpx.AsyncClient) -> None:
    """`resolved` is a valid alert id; its updates must not look like the resolution event."""
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        ids = [
            await raise_alert(client, "resolved", "info", "first"),
            await raise_alert(client, "resolved", "warning", "changed"),
            await resolve_alert(client, "resolved"),
        ]
        events = await stream.take(3)
    assert [(e.event, e.id) for e in events] == [
        (HTML_NEW_ALERT, ids[0]),
        ("alert-resolved", ids[1]),
        (HTML_RESOLVED_ALERT, ids[2]),
    ]

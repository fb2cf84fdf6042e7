"""Both streams: response headers, the first frame, ids, and the named events ingest produces."""

from __future__ import annotations

import json

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
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_stream_response_headers_and_first_frame(client: httpx.AsyncClient, fmt: str) -> None:
    async with open_stream(client, STREAMS[fmt], headers={"Accept-Encoding": "gzip"}) as stream:
        headers = stream.response.headers
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert "no-cache" in headers["cache-control"]
        assert headers["connection"].lower() == "keep-alive"
        assert headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in headers

        first = await stream.first_frame()
        assert any(line.startswith("retry:") for line in first.splitlines()), first
        event = await stream.next_event()
        assert stream.parser.retry is not None and stream.parser.retry >= 0
        assert event.id, event


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_every_event_carries_an_id(client: httpx.AsyncClient, fmt: str) -> None:
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
    assert snapshot.id
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
    assert set(data[1]) == {"metric", "value", "ts"}
    assert data[1]["metric"] == metric and data[1]["value"] == 7 and isinstance(data[1]["ts"], float | int)
    assert data[2]["message"] == "deployed web"
    assert data[2]["actor"] == "ada" and data[2]["level"] == "success"
    assert data[3]["id"] == alert_id and data[3]["severity"] == "critical"
    assert data[3]["title"] == "DB down" and data[3]["message"] == "replica lag"
    assert data[4]["id"] == alert_id and data[4]["severity"] == "warning" and data[4]["title"] == "DB slow"
    assert data[5]["id"] == alert_id


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
        assert (await health(client))["streams"] >= 2
        ids = [await post_metric(client, unique("both"), i) for i in range(3)]
        assert [e.id for e in await html.take(3)] == ids
        assert [e.id for e in await js.take(3)] == ids


# --- names a user picks must not turn into another event's name ---------------------------


def refused_naming(response: httpx.Response, field: str) -> bool:
    """True if the name was refused as reserved (400 naming `field`): an acceptable fix."""
    if response.status_code == 202:
        return False
    assert response.status_code == 400, response.text
    assert field in response.text, response.text
    return True


async def test_a_metric_named_new_is_not_announced_as_a_new_card(client: httpx.AsyncClient) -> None:
    """`metric-<name>` for name `new` is the grid's own event: its updates would add cards."""
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        first = await client.post("/api/metrics", json=[{"name": "new", "value": 1}])
        if refused_naming(first, "name"):
            return
        await post_metric(client, "new", 2)
        created, updated = await stream.take(2)
    assert created.event == HTML_NEW_METRIC
    assert updated.event != HTML_NEW_METRIC, (
        f"an update of the existing card `new` is named {updated.event!r}, like a first-seen metric"
    )


async def test_an_alert_named_resolved_is_not_announced_as_a_resolution(client: httpx.AsyncClient) -> None:
    """`alert-<id>` for id `resolved` is the resolution event: its updates would go to the oob receiver."""
    body = {"id": "resolved", "severity": "info", "title": "first"}
    async with open_stream(client, HTML_STREAM) as stream:
        assert (await stream.next_event()).event == "snapshot"
        first = await client.post("/api/alerts", json=body)
        if refused_naming(first, "id"):
            return
        await raise_alert(client, "resolved", "warning", "changed")
        await resolve_alert(client, "resolved")
        raised, changed, resolved = await stream.take(3)
    assert (raised.event, resolved.event) == (HTML_NEW_ALERT, HTML_RESOLVED_ALERT)
    assert changed.event not in (HTML_NEW_ALERT, HTML_RESOLVED_ALERT), (
        f"an update of the open alert `resolved` is named {changed.event!r}, like a resolution"
    )

"""Per-card throttling, seen from a client: at most LIVEDASH_CARD_RATE updates a second per
card, however fast the metric is ingested, and the last value always arrives."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest

from tests.integration.helpers import JSON_STREAM, open_stream, post_activity, unique

pytestmark = pytest.mark.anyio

RATE = 4
SERVER_ENV = {"LIVEDASH_CARD_RATE": str(RATE)}


async def test_a_fast_metric_reaches_clients_at_most_rate_times_a_second_and_ends_on_its_last_value(
    client: httpx.AsyncClient,
) -> None:
    name = unique("fast")
    other = unique("calm")
    async with open_stream(client, JSON_STREAM) as stream:
        await stream.next_event()  # the snapshot
        started = time.monotonic()
        held = 0
        for value in range(150):  # ~3 s of a metric ingested at ~50/s
            points = [{"name": name, "value": value}]
            if value % 50 == 0:  # a calm card, once a second
                points.append({"name": other, "value": value // 50})
            response = await client.post("/api/metrics", json=points)
            assert response.status_code == 202, response.text
            held += response.json()["held"]
            await anyio.sleep(0.02)
        elapsed = time.monotonic() - started
        marker = await post_activity(client, "done")  # an activity goes out unthrottled, in order
        updates: list[tuple[float, float]] = []
        calm: list[float] = []
        with anyio.fail_after(5):
            while True:
                event = await stream.next_event()
                if event.id == marker:
                    break
                if event.event == "metric-update":
                    body = json.loads(event.data)
                    if body["metric"] == name:
                        updates.append((time.monotonic(), body["value"]))
                    elif body["metric"] == other:
                        calm.append(body["value"])
        # The newest value may still wait for its slot when the marker goes out: wait for it.
        with anyio.fail_after(2):
            while not updates or updates[-1][1] != 149:
                event = await stream.next_event()
                body = json.loads(event.data)
                if event.event == "metric-update" and body["metric"] == name:
                    updates.append((time.monotonic(), body["value"]))
    assert held > 100  # the API says how many points waited or were superseded
    assert len(updates) <= RATE * (elapsed + 1) + 1, (len(updates), elapsed)
    assert len(updates) >= RATE * elapsed / 2  # throttled, not starved
    values = [value for _, value in updates]
    assert values == sorted(values) and values[-1] == 149
    assert calm == [0, 1, 2]  # a calm card sends every reading at once

"""Per-card throttling, seen from a client: at most LIVEDASH_CARD_RATE updates a second per
card, however fast the metric is ingested, and the last value always arrives."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest

from tests.integration.helpers import JSON_STREAM, SSEStream, open_stream, post_activity, unique

pytestmark = pytest.mark.anyio

RATE = 4
SERVER_ENV = {"LIVEDASH_CARD_RATE": str(RATE)}
LAST = 149


async def test_a_fast_metric_reaches_clients_at_most_rate_times_a_second_and_ends_on_its_last_value(
    client: httpx.AsyncClient,
) -> None:
    name = unique("fast")
    other = unique("calm")
    updates: list[tuple[float, float]] = []  # (when the client read it, value)
    calm: list[float] = []

    async def read(stream: SSEStream, marker: anyio.Event) -> None:
        while not (marker.is_set() and updates and updates[-1][1] == LAST):
            event = await stream.next_event(timeout=5)
            if event.event == "metric-update":
                body = json.loads(event.data)
                if body["metric"] == name:
                    updates.append((time.monotonic(), body["value"]))
                elif body["metric"] == other:
                    calm.append(body["value"])
            elif event.event == "activity":
                marker.set()

    async with open_stream(client, JSON_STREAM) as stream:
        await stream.next_event()  # the snapshot
        done = anyio.Event()
        held = 0
        with anyio.fail_after(15):
            async with anyio.create_task_group() as readers:
                readers.start_soon(read, stream, done)
                started = time.monotonic()
                for value in range(LAST + 1):  # ~3 s of a metric ingested at ~50/s
                    points = [{"name": name, "value": value}]
                    if value % 50 == 0:  # a calm card, once a second
                        points.append({"name": other, "value": value // 50})
                    response = await client.post("/api/metrics", json=points)
                    assert response.status_code == 202, response.text
                    held += response.json()["held"]
                    await anyio.sleep(0.02)
                elapsed = time.monotonic() - started
                await post_activity(client, "done")  # the reader stops once the last value is in
    assert held > 100  # the API says how many points waited or were superseded
    assert len(updates) <= RATE * (elapsed + 1) + 1, (len(updates), elapsed)
    assert len(updates) >= RATE * elapsed / 2  # throttled, not starved
    times = [at for at, _ in updates]
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= RATE + 1, f"{busiest} updates within one second"  # +1: arrival jitter
    values = [value for _, value in updates]
    assert values == sorted(values) and values[-1] == LAST
    assert calm == [0, 1, 2]  # a calm card sends every reading at once

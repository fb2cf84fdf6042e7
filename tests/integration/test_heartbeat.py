"""Heartbeats keep idle streams alive: a named `heartbeat` within the configured interval."""

from __future__ import annotations

import itertools
import json
import re
import time

import httpx
import pytest

from tests.integration.helpers import STREAMS, health, open_stream, post_metric, unique

pytestmark = pytest.mark.anyio

INTERVAL = 0.5
SLACK = 0.5  # a loaded 2-core CI machine
SERVER_ENV = {"LIVEDASH_HEARTBEAT_SECONDS": str(INTERVAL)}


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_heartbeat_arrives_within_the_interval(client: httpx.AsyncClient, fmt: str) -> None:
    last_id = await post_metric(client, unique("beat"), 1)
    async with open_stream(client, STREAMS[fmt], headers={"Last-Event-ID": last_id}) as stream:
        await stream.first_frame()
        arrivals = []
        beats = []
        for _ in range(3):
            beat = await stream.next_event(INTERVAL + SLACK, heartbeats=True)
            arrivals.append(time.monotonic())
            beats.append(beat)
    assert [b.event for b in beats] == ["heartbeat"] * 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert all(gap <= INTERVAL + SLACK for gap in gaps), gaps
    # A heartbeat repeats the newest id, so a reconnect after it resumes at the right place.
    assert {b.id for b in beats} == {last_id}
    # Its data is the server's clock: {"ts": <seconds>} on the JSON stream, "<seconds>" on the HTML one.
    if fmt == "json":
        assert [set(json.loads(b.data)) for b in beats] == [{"ts"}] * 3
    else:
        assert [bool(re.fullmatch(r"\d+\.\d{3}", b.data)) for b in beats] == [True] * 3, beats
    assert (await health(client))["last_id"] == last_id

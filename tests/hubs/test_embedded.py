"""The embedded hub without a file: ids from its epoch, delivery within `append`."""

from __future__ import annotations

import pytest

from app.domain.ids import id_key
from app.domain.model import ActivityIn, MetricPoint, MetricUpdated
from app.hubs.embedded import EmbeddedHub
from app.settings import Settings
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat
from tests.hubs.helpers import past_millisecond, running, subscribe

pytestmark = pytest.mark.anyio


async def test_memory_hub_numbers_events_from_its_epoch(settings: Settings, renderer: Renderer) -> None:
    hub = EmbeddedHub(epoch=1234)
    async with running(hub, settings, renderer) as dashboard:
        assert hub.kind == "memory" and hub.problem is None and hub.background() == []
        assert dashboard.state.version == dashboard.streams.ring.origin == "1234-0"
        assert await hub.append([MetricUpdated("a", 1.0, 1.0), MetricUpdated("a", 2.0, 2.0)]) == [
            "1234-1",
            "1234-2",
        ]
        assert await dashboard.add_activity(ActivityIn("x")) == "1234-3"
        assert dashboard.state.version == "1234-3" and dashboard.state.metrics["a"].value == 2.0
        assert await hub.older("1234-1") is None  # memory has no log beyond the ring
        assert hub.lease("producers", 10.0, lambda held: None) is None  # one process: it runs them


async def test_memory_hub_delivers_within_append(settings: Settings, renderer: Renderer) -> None:
    """By the time `append` returns, every subscriber has the event (no task, no queue)."""
    async with running(EmbeddedHub(epoch=5), settings, renderer) as dashboard:
        stream = await subscribe(dashboard, StreamFormat.json, "5-0")
        [event_id] = await dashboard.hub.append([MetricUpdated("a", 1.0, 1.0)])
        assert [event.id for event in stream.events] == [event_id]


async def test_default_epoch_is_the_start_time_so_a_restart_never_reuses_ids(
    settings: Settings, renderer: Renderer
) -> None:
    async with running(EmbeddedHub(), settings, renderer) as one:
        [old] = await one.add_metrics([MetricPoint("a", 1.0)])
    await past_millisecond(id_key(old)[0])
    async with running(EmbeddedHub(), settings, renderer) as two:
        assert id_key(two.state.version) > id_key(old)  # a memory restart starts over, but later

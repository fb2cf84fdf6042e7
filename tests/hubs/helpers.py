"""Running a real `Dashboard` on a hub, as the app does, for the hub tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple, cast

import msgspec

from app.domain.model import Fact
from app.hubs.base import Hub
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat
from tests.support.fakes import FakeConnection

NOW = 1_700_000_000.0


class Backend(NamedTuple):
    """A kind of hub, and how to make one on its storage (again, for a restart)."""

    kind: str
    hub: Callable[[], Hub]


class Unheard(msgspec.Struct, tag="unheard", frozen=True):
    """A fact no hub has a fold for (as one added to the model but not to a hub would be)."""

    id: str
    ts: float


def unheard(ts: float) -> Fact:
    """An `Unheard` fact, typed as the hubs receive it."""
    return cast(Fact, Unheard("x", ts))


@contextlib.asynccontextmanager
async def running(hub: Hub, settings: Settings, renderer: Renderer) -> AsyncIterator[Dashboard]:
    """A started dashboard on `hub` with the hub's background work running (the Redis reader
    delivers every event; the SQLite writer writes); all stopped and closed on exit."""
    dashboard = Dashboard(settings, renderer, hub, clock=lambda: NOW)
    tasks: list[asyncio.Task[None]] = []
    try:
        await dashboard.start()
        tasks = [asyncio.create_task(work) for work in hub.background()]
        yield dashboard
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.close()


async def subscribe(dashboard: Dashboard, fmt: StreamFormat, last_id: str | None) -> FakeConnection:
    """A client's stream opened with `last_id`; its events collect in `.events`."""
    connection = FakeConnection()
    await dashboard.streams.subscribe(fmt, connection.send, last_id)
    return connection


async def past_millisecond(ms: int) -> None:
    """Return once the wall clock is past millisecond `ms` (a memory hub's next epoch)."""
    async with asyncio.timeout(2):
        while time.time_ns() // 1_000_000 <= ms:
            await asyncio.sleep(0.001)

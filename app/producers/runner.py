"""Producers that must run once per deployment (the demo source), not once per worker.

Without Redis there is one process, so it simply runs them. With Redis the processes share a
lease: the holder runs the producers, the others stand by and take over when it lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from app.hubs.base import Lease
from app.service.dashboard import Dashboard

Producer = Callable[[], Coroutine[Any, Any, None]]


class Producers:
    """Starts and stops `producers` as this process gains or loses the right to run them."""

    def __init__(self, dashboard: Dashboard, producers: list[Producer]) -> None:
        self._dashboard = dashboard
        self._producers = producers
        self._tasks: list[asyncio.Task[None]] = []
        self._lease: Lease | None = dashboard.hub.lease(
            "producers", dashboard.settings.lease_seconds, self._switch
        )

    async def run(self) -> None:
        """Run until cancelled: the producers directly, or whenever the lease is ours."""
        if self._lease is None:
            self._switch(True)
            await asyncio.Event().wait()
        else:
            await self._lease.run()

    def _switch(self, on: bool) -> None:
        self._dashboard.producer = on
        if on and not self._tasks:
            self._tasks = [asyncio.create_task(produce(), name="producer") for produce in self._producers]
        elif not on:
            for task in self._tasks:
                task.cancel()
            self._tasks = []

    async def stop(self) -> None:
        """Stop the producers and hand the lease on at once."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._lease is not None:
            await self._lease.release()
        self._dashboard.producer = False

"""Fixtures for the unit tests: settings and a dashboard built without HTTP."""

from __future__ import annotations

import pytest

from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer, make_environment


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings() -> Settings:
    # In memory (no SQLite file), unthrottled and unflushed, so every point is an event that
    # is written at once; the throttle, the flush and the store have tests of their own.
    return Settings(demo=False, feed_size=5, replay_window=50, card_rate=0, flush_hz=0, db_path="")


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(make_environment())


@pytest.fixture
async def dashboard(settings: Settings, renderer: Renderer) -> Dashboard:
    dashboard = Dashboard(settings, renderer, clock=lambda: 1_700_000_000.0)
    await dashboard.start()
    return dashboard

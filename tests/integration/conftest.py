"""Fixtures for the integration tests: live servers (one per module, or one per test) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
import pytest

from tests.integration.helpers import TIMEOUT, StartServer
from tests.support.server import LiveServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One server for the whole module, configured by the module's `SERVER_ENV` (if any).

    For tests that only add events and read what they added themselves, so they can share it.
    """
    env: Mapping[str, str] = getattr(request.module, "SERVER_ENV", {})
    with LiveServer(env=env) as live:
        yield live


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start a server of this test's own (for SIGTERM, other settings); stopped afterwards."""
    started: list[LiveServer] = []

    def start(env: Mapping[str, str]) -> LiveServer:
        live = LiveServer(env=env)
        started.append(live)
        return live.start()

    yield start
    for live in started:
        live.stop()


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An async client for the module's server."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        yield http

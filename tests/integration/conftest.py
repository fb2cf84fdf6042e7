"""Fixtures for the integration tests: live servers (one per module, or a test's own) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
import pytest

from tests.integration.helpers import TIMEOUT
from tests.support.redis_server import RedisServer, redis_server_binary
from tests.support.server import LiveServer, MakeServer


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One server for the whole module, configured by the module's `SERVER_ENV` (if any).

    For tests that only add events and read what they added themselves, so they can share it.
    """
    env: Mapping[str, str] = getattr(request.module, "SERVER_ENV", {})
    with LiveServer(env=env) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An async client for the module's server."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        yield http


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """Servers of this test's own (other settings, SIGTERM, restarts), not started; stopped afterwards."""
    make = MakeServer()
    yield make
    make.stop_all()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port (never the shared one), removed afterwards.

    Request it before `make_server`, so livedash processes stop before their Redis does.
    A missing redis-server fails the test, never skips it (`make test` installs it).
    """
    if redis_server_binary() is None:
        pytest.fail("redis-server is not installed; `make test` installs Debian's redis-server package")
    with RedisServer() as redis:
        yield redis

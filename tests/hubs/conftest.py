"""Fixtures for the hub tests: a private redis-server per module, and one hub kind per param."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.hubs.base import Hub
from app.hubs.embedded import EmbeddedHub
from app.hubs.redis import RedisHub
from app.hubs.sqlite import SqliteStore
from app.settings import Settings
from tests.hubs.helpers import Backend
from tests.support.redis_server import RedisServer, redis_server_binary


def start_redis() -> RedisServer:
    """A started private redis-server; a missing binary fails the test, never skips it."""
    if redis_server_binary() is None:
        pytest.fail("redis-server is not installed; `make test` installs Debian's redis-server package")
    return RedisServer().start()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the module's tests, which keep apart by key prefix; never stopped
    by a test (those that stop Redis take `own_redis`)."""
    server = start_redis()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, to stop and start again."""
    server = start_redis()
    try:
        yield server
    finally:
        server.close()


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> Backend:
    """One kind of hub; `backend.hub()` makes another on the same storage (a restart)."""
    kind: str = request.param
    if kind == "memory":
        return Backend(kind, EmbeddedHub)
    if kind == "sqlite":
        path = str(tmp_path / "livedash.sqlite3")

        def sqlite() -> Hub:
            return EmbeddedHub(SqliteStore(path, settings.replay_window))

        return Backend(kind, sqlite)
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = unique_prefix()

    def redis() -> Hub:
        return RedisHub(server.url, prefix, settings.replay_window, settings.feed_size)

    return Backend(kind, redis)

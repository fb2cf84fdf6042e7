"""The private redis-server the Redis tests rely on: its own port, an outage that really is
one, and a restart on the same port that keeps the data (as a managed Redis does)."""

from __future__ import annotations

import pytest

from tests.support.redis_server import SHARED_PORT, RedisServer


def test_private_server_stops_and_comes_back_on_the_same_port(redis_server: RedisServer) -> None:
    assert redis_server.port != SHARED_PORT
    port = redis_server.port
    with redis_server.client() as client:
        client.xadd("fixture-stream", {"n": "1"})
        client.set("fixture-key", "kept")

    redis_server.stop()
    assert not redis_server.running
    assert not redis_server.ping(), "still answering after stop(): no outage"

    redis_server.start()
    assert redis_server.port == port
    with redis_server.client() as client:
        assert client.get("fixture-key") == b"kept"
        assert client.xlen("fixture-stream") == 1


def test_stop_without_keeping_data_loses_it(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        client.set("fixture-key", "gone")
    redis_server.stop(keep_data=False)
    redis_server.start()
    with redis_server.client() as client:
        assert client.get("fixture-key") is None


def test_a_second_start_while_running_is_refused(redis_server: RedisServer) -> None:
    with pytest.raises(AssertionError, match="already running"):
        redis_server.start()

"""What only the Redis hub does: its scripts, what a failed append says was recorded, putting
the state back into a Redis that lost it, the producer lease, and stopping when cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from app.domain.model import MetricUpdated
from app.hubs.base import HubUnavailable
from app.hubs.redis import (
    APPEND_ARGV,
    KEY_NAMES,
    MAYBE_RECORDED,
    NOT_RECORDED,
    SEED_ARGV,
    RedisHub,
    check_binding,
    load_script,
)
from app.service.dashboard import Dashboard
from app.settings import Settings
from app.streaming.render import Renderer
from tests.hubs.conftest import unique_prefix
from tests.hubs.helpers import NOW, running, unheard
from tests.hubs.test_contract import every_row, folded, publish_batches
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

METRIC = MetricUpdated("cpu", 1.0, NOW)


def key_names(prefix: str) -> list[str]:
    return [f"{prefix}:{name.replace('_', '-')}" for name in KEY_NAMES]


def redis_hub(url: str, prefix: str, settings: Settings, timeout: float = 3.0) -> RedisHub:
    return RedisHub(url, prefix, settings.replay_window, settings.feed_size, timeout=timeout)


async def started(hub: RedisHub, settings: Settings, renderer: Renderer) -> Dashboard:
    """A dashboard on `hub` with no reader running: what an append does, and nothing else."""
    dashboard = Dashboard(settings, renderer, hub, clock=lambda: NOW)
    await dashboard.start()
    return dashboard


def stored(server: RedisServer, prefix: str) -> dict[str, int]:
    """How many of the dashboard's keys exist, and how many events its stream holds."""
    with server.client() as client:
        return {
            "keys": int(client.exists(*key_names(prefix))),
            "events": int(client.xlen(f"{prefix}:events")),
        }


# --- the scripts -----------------------------------------------------------------------


def test_the_scripts_are_checked_against_the_names_python_passes() -> None:
    for name, argv in [("append.lua", APPEND_ARGV), ("load.lua", ()), ("seed.lua", SEED_ARGV)]:
        assert "KEYS[10]" in load_script(name, argv)
    with pytest.raises(ValueError, match=r"^app/hubs/lua/append.lua: the script must bind ARGV as"):
        load_script("append.lua", ("feed_size", "maxlen", "newest_ts"))


@pytest.mark.parametrize(
    "source",
    [
        "local b, a = KEYS[1], KEYS[2]",  # swapped
        "local a, b = KEYS[1], KEYS[2]\nredis.call('GET', KEYS[2])",  # numbered in the body
        "redis.call('GET', KEYS[1], KEYS[2])",  # never bound
        "local a = KEYS[1]",  # one short
    ],
)
def test_a_script_that_does_not_bind_its_keys_by_name_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match=r"must bind KEYS as `local a, b = KEYS\[1\], KEYS\[2\]`"):
        check_binding(source, "KEYS", ["a", "b"])


def test_a_script_that_binds_its_keys_by_name_is_accepted() -> None:
    check_binding("local a, b =\n  KEYS[1], KEYS[2]\nredis.call('GET', b)", "KEYS", ["a", "b"])


QUADRUPLES = r"append: expected \(kind, key, payload, guard\) quadruples after the fixed arguments"


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        (
            [b"m", b"cpu", b"payload", b"", b"z", b"k", b"payload", b""],
            "append: unknown fact kind z",
        ),  # after a known one
        ([b"m", b"cpu", b"payload", b"", b"a", b"k"], QUADRUPLES),
        ([], QUADRUPLES),
    ],
)
async def test_append_lua_refuses_a_bad_batch_before_writing_anything(
    redis_server: RedisServer, facts: list[bytes], refusal: str
) -> None:
    prefix = unique_prefix()
    async with aioredis.Redis.from_url(redis_server.url) as client:
        append = client.register_script(load_script("append.lua", APPEND_ARGV))
        with pytest.raises(ResponseError, match=refusal):
            await append(keys=key_names(prefix), args=[50, 5, repr(NOW), *facts])
    assert stored(redis_server, prefix) == {"keys": 0, "events": 0}


async def test_a_fact_without_a_fold_fails_the_whole_batch_before_anything_is_sent(
    redis_server: RedisServer, settings: Settings, renderer: Renderer
) -> None:
    prefix = unique_prefix()
    hub = redis_hub(redis_server.url, prefix, settings)
    await started(hub, settings, renderer)
    with pytest.raises(TypeError, match="the Redis hub has no fold for Unheard"):
        await hub.append([METRIC, unheard(NOW)])
    assert stored(redis_server, prefix) == {"keys": 0, "events": 0}
    assert hub.problem is None  # a bug of ours, not an outage
    await hub.close()


async def test_a_redis_that_lost_the_scripts_gets_them_again(
    redis_server: RedisServer, settings: Settings, renderer: Renderer
) -> None:
    prefix = unique_prefix()
    async with running(redis_hub(redis_server.url, prefix, settings), settings, renderer) as dashboard:
        [first] = await dashboard.publish([METRIC])
        with redis_server.client() as client:
            client.script_flush()
        [second] = await dashboard.publish([MetricUpdated("cpu", 2.0, NOW + 1)])
        assert dashboard.state.version == second and second != first
    assert stored(redis_server, prefix)["events"] == 2


# --- what a failed append says ---------------------------------------------------------------


class Proxy:
    """A TCP proxy in front of Redis that can keep the answer to a script from the client:
    `cut = "close"` closes the client's connection instead, `cut = "hold"` says nothing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut: str | None = None
        self.answered = asyncio.Event()
        """Redis answered a script that was cut off: it ran."""
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.port)
        script = False

        async def upstream() -> None:
            nonlocal script
            while data := await client_in.read(65536):
                script = b"EVAL" in data  # EVALSHA or EVAL: the answer is to a script
                server_out.write(data)
                await server_out.drain()
            server_out.close()

        async def downstream() -> None:
            while data := await server_in.read(65536):
                if script and self.cut is not None:
                    self.answered.set()
                    if self.cut == "close":
                        break
                    continue
                client_out.write(data)
                await client_out.drain()
            client_out.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
        for writer in (client_out, server_out):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@asynccontextmanager
async def proxy_to(server: RedisServer) -> AsyncIterator[Proxy]:
    proxy = await Proxy(server.port).start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def test_an_append_that_cannot_reach_redis_says_nothing_was_recorded(
    own_redis: RedisServer, settings: Settings
) -> None:
    hub = redis_hub(own_redis.url, unique_prefix(), settings)
    own_redis.stop(keep_data=False)
    with pytest.raises(HubUnavailable) as info:
        await hub.append([METRIC])
    assert str(info.value).startswith("event hub unavailable (redis: Error ")
    assert str(info.value).endswith(f"); {NOT_RECORDED}")
    assert hub.problem is not None and hub.problem.startswith("redis: Error ")
    await hub.close()


async def test_a_timeout_before_the_script_was_sent_says_nothing_was_recorded(settings: Settings) -> None:
    """A server that accepts but never answers: the handshake times out, so the script never
    left this process (a timeout, yet not a "may have been recorded")."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hub = redis_hub(f"redis://127.0.0.1:{port}/0", unique_prefix(), settings, timeout=0.3)
    with pytest.raises(HubUnavailable) as info:
        await hub.append([METRIC])
    assert str(info.value).startswith("event hub unavailable (redis: Timeout reading from ")
    assert str(info.value).endswith(f"); {NOT_RECORDED}")
    await hub.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("cut", ["close", "hold"])
async def test_a_script_whose_answer_never_came_may_have_been_recorded_and_was(
    redis_server: RedisServer, settings: Settings, renderer: Renderer, cut: str
) -> None:
    prefix = unique_prefix()
    async with proxy_to(redis_server) as proxy:
        hub = redis_hub(proxy.url, prefix, settings, timeout=0.5)
        await started(hub, settings, renderer)
        with redis_server.client() as client:
            client.script_load(load_script("append.lua", APPEND_ARGV))  # runs by sha, first time
        proxy.cut = cut
        with pytest.raises(HubUnavailable) as info:
            await hub.append([METRIC])
        assert proxy.answered.is_set()
        reason = "Timeout reading from " if cut == "hold" else "Connection closed by server"
        assert reason in str(info.value)
        assert str(info.value).endswith(f"); {MAYBE_RECORDED}")
        await hub.close()
    assert stored(redis_server, prefix)["events"] == 1  # it ran: "not recorded" would have been a lie


# --- a Redis that comes back empty --------------------------------------------------------


async def test_a_redis_that_comes_back_empty_gets_the_folded_state_back(
    own_redis: RedisServer, settings: Settings, renderer: Renderer
) -> None:
    """seed.lua writes back what load.lua reads: the state, exactly, trend arrows and all, and
    every card's history, which append.lua then folds on from."""
    prefix = unique_prefix()
    async with running(redis_hub(own_redis.url, prefix, settings), settings, renderer) as dashboard:
        ids = await publish_batches(dashboard)
        history = every_row(dashboard.history)
        own_redis.stop(keep_data=False)
        own_redis.start()
        async with asyncio.timeout(20):  # the reader reconnects (with backoff) and reseeds
            while stored(own_redis, prefix)["keys"] == 0:
                await asyncio.sleep(0.05)
    async with running(redis_hub(own_redis.url, prefix, settings), settings, renderer) as later:
        assert later.state_data() == folded(ids[-1])
        assert every_row(later.history) == history and history
        await later.publish([MetricUpdated("cpu", 5.0, NOW + 50.5), MetricUpdated("cpu", 6.0, NOW + 50.7)])
        history = every_row(later.history)
    async with running(redis_hub(own_redis.url, prefix, settings), settings, renderer) as again:
        assert every_row(again.history) == history


# --- the producer lease ----------------------------------------------------------------------


class Watch:
    """Hears a lease's `on_change`, and when."""

    def __init__(self) -> None:
        self.changes: list[bool] = []
        self.times: list[float] = []
        self._changed = asyncio.Event()

    def __call__(self, held: bool) -> None:
        self.changes.append(held)
        self.times.append(time.monotonic())
        self._changed.set()

    async def until(self, held: bool, timeout: float) -> float:
        """When the lease was last won (`True`) or lost, once it has been."""
        async with asyncio.timeout(timeout):
            while not (self.changes and self.changes[-1] is held):
                self._changed.clear()
                await self._changed.wait()
        return self.times[-1]


def pttl(server: RedisServer, key: str) -> int:
    with server.client() as client:
        return int(client.pttl(key))


def holder(server: RedisServer, key: str) -> bytes | None:
    """The token in the lease's key: who holds it."""
    with server.client() as client:
        token: bytes | None = client.get(key)
        return token


class Process:
    """One process's producer lease on a prefix, running, and what it heard."""

    def __init__(self, server: RedisServer, prefix: str, seconds: float) -> None:
        self.hub = RedisHub(server.url, prefix, 50, 5)
        self.watch = Watch()
        self.lease = self.hub.lease("producers", seconds, self.watch)
        self.task = asyncio.create_task(self.lease.run())

    async def kill(self) -> None:
        """Die without giving the lease back (as SIGKILL)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.hub.close()


@asynccontextmanager
async def lease_on(server: RedisServer, prefix: str, seconds: float) -> AsyncIterator[Process]:
    process = Process(server, prefix, seconds)
    try:
        yield process
    finally:
        if not process.task.done():
            await process.kill()


async def renewed(server: RedisServer, key: str, timeout: float) -> None:
    """Return once the lease's expiry has been pushed back (the holder renewed it)."""
    last = pttl(server, key)
    async with asyncio.timeout(timeout):
        while (now := pttl(server, key)) <= last:
            last = now
            await asyncio.sleep(0.01)


async def test_a_released_lease_is_taken_over_at_once_not_when_it_would_lapse(
    redis_server: RedisServer,
) -> None:
    prefix = unique_prefix()
    key = f"{prefix}:lease:producers"
    async with lease_on(redis_server, prefix, 3.0) as first:
        await first.watch.until(True, 5)
        token = holder(redis_server, key)
        async with lease_on(redis_server, prefix, 3.0) as second:
            await renewed(redis_server, key, 5)  # the standby has been trying meanwhile
            assert second.watch.changes == [] and holder(redis_server, key) == token
            lapse = pttl(redis_server, key) / 1000
            released = time.monotonic()
            await first.lease.release()
            assert first.watch.changes == [True, False] and not first.lease.held
            took = await second.watch.until(True, 5)
            assert second.lease.held and holder(redis_server, key) not in (None, token)
    assert took - released < lapse  # handed on, not left to lapse


async def test_a_dead_holder_is_replaced_once_its_lease_lapses(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    key = f"{prefix}:lease:producers"
    async with lease_on(redis_server, prefix, 1.0) as first:
        await first.watch.until(True, 5)
        async with lease_on(redis_server, prefix, 1.0) as second:
            await first.kill()
            died = time.monotonic()
            left = pttl(redis_server, key) / 1000
            assert first.watch.changes == [True] and 0 < left <= 1.0
            took = await second.watch.until(True, 5)
    assert left - 0.05 <= took - died <= left + 1.0 / 3 + 1.0  # one attempt after the lapse, and slack


async def test_the_holder_renews_every_third_of_its_lifetime(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    key = f"{prefix}:lease:producers"
    async with lease_on(redis_server, prefix, 1.0) as process:
        await process.watch.until(True, 5)
        token = holder(redis_server, key)
        renewals, lowest, last = 0, 1000, pttl(redis_server, key)
        until = time.monotonic() + 2.5  # two and a half lifetimes
        while time.monotonic() < until:
            now = pttl(redis_server, key)
            renewals += now > last
            lowest, last = min(lowest, now), now
            await asyncio.sleep(0.01)
        assert holder(redis_server, key) == token and process.watch.changes == [True] and process.lease.held
    assert lowest > 0  # never lapsed
    assert renewals >= 4  # about seven; once a lifetime would be two


async def test_the_holder_keeps_the_lease_through_an_outage_until_it_would_have_lapsed(
    own_redis: RedisServer,
) -> None:
    async with lease_on(own_redis, unique_prefix(), 1.0) as process:
        took = await process.watch.until(True, 5)
        own_redis.stop()
        lost = await process.watch.until(False, 5)
        assert 0.9 <= lost - took <= 3.0  # kept through failed renewals, then lost as it lapsed
        own_redis.start()
        await process.watch.until(True, 10)  # and taken again once Redis is back
        assert process.watch.changes == [True, False, True] and process.lease.held


# --- stopping when cancelled -----------------------------------------------------------------


class Swallowing:
    """A Redis call that swallows a cancellation, as `asyncio.wait_for` does on Python 3.11
    when it arrives just as redis-py's send completes; it then returns `result` when let go."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.called = asyncio.Event()
        self.let_go = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.called.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await self.let_go.wait()
        return self.result


async def test_a_cancelled_reader_stops_at_once_even_if_redis_py_swallows_the_cancellation(
    redis_server: RedisServer, settings: Settings, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    xread = Swallowing(None)
    monkeypatch.setattr(aioredis.Redis, "xread", xread)
    hub = redis_hub(redis_server.url, unique_prefix(), settings)
    await started(hub, settings, renderer)
    [reader] = [asyncio.create_task(work) for work in hub.background()]
    await xread.called.wait()
    reader.cancel()
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await reader
    assert not xread.let_go.is_set()  # the read it left behind is still going
    xread.let_go.set()
    await hub.close()


async def test_a_cancelled_lease_stops_even_if_redis_py_swallows_the_cancellation(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = RedisHub(redis_server.url, unique_prefix(), 50, 5)
    attempt = Swallowing(None)  # SET NX answered "not taken"
    attempt.let_go.set()
    monkeypatch.setattr(aioredis.Redis, "set", attempt)
    watch = Watch()
    task = asyncio.create_task(hub.lease("producers", 0.3, watch).run())
    await attempt.called.wait()
    task.cancel()
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert watch.changes == []
    await hub.close()

"""The Redis Streams backend: one dashboard across processes and instances.

Appending runs one Lua script: it adds each fact to the stream `<prefix>:events` (trimmed to
about the replay window; the stream id is the SSE id) and folds it into the state kept in
Redis (`:metrics`, `:prev`, `:feed`, `:alerts`, `:alert-order`, `:version`), atomically, so a
process that starts later loads a state that matches an exact stream position. Each stream
entry also records whether it created its card or banner and the value it replaced, so any
process can render any entry the same way, live or when replaying history.

Every process runs one reader (`XREAD BLOCK`) that hands what it reads to the dashboard's
render-once fan-out: clients cost no Redis traffic. When Redis goes away, the reader retries
with backoff from its last id and /readyz says why; ingest answers 503 (nothing acknowledged
is lost); open streams keep their heartbeats. If Redis comes back empty (no persistence),
the first process to reconnect writes its last known state back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.domain.events import Change, Event
from app.domain.ids import parse_id
from app.domain.model import ActivityAdded, AlertRaised, Fact, MetricUpdated
from app.domain.state import MetricValue, StateData
from app.hubs.base import HubUnavailable, Sink
from app.hubs.lease import Lease

log = logging.getLogger("livedash.redis")

_encode = msgspec.msgpack.Encoder().encode
_decode_fact = msgspec.msgpack.Decoder(Fact).decode

Rows = list[tuple[bytes, dict[bytes, bytes]]]
"""Stream entries as redis-py returns them (bytes, as the clients do not decode)."""

BLOCK_MS = 5000
READ_COUNT = 1000

# KEYS: events metrics prev feed alerts alert-order version seq metric-order
# ARGV: maxlen feed_size, then (kind key payload) per fact
_APPEND = """
local maxlen, feed_size = ARGV[1], tonumber(ARGV[2])
local ids = {}
for i = 3, #ARGV, 3 do
  local kind, key, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local created, prev = '0', ''
  if kind == 'm' then
    local old = redis.call('HGET', KEYS[2], key)
    if old then
      prev = old
      redis.call('HSET', KEYS[3], key, old)
    else
      created = '1'
      redis.call('ZADD', KEYS[9], redis.call('INCR', KEYS[8]), key)
    end
    redis.call('HSET', KEYS[2], key, payload)
  elseif kind == 'a' then
    created = '1'
    redis.call('LPUSH', KEYS[4], payload)
    redis.call('LTRIM', KEYS[4], 0, feed_size - 1)
  elseif kind == 'r' then
    if redis.call('HSET', KEYS[5], key, payload) == 1 then
      created = '1'
      redis.call('ZADD', KEYS[6], redis.call('INCR', KEYS[8]), key)
    end
  else
    if redis.call('HDEL', KEYS[5], key) == 1 then created = '1' end
    redis.call('ZREM', KEYS[6], key)
  end
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
                             'f', payload, 'c', created, 'p', prev)
end
redis.call('SET', KEYS[7], ids[#ids])
return ids
"""

_LOAD = """
local alerts, metrics, prev = {}, {}, {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  local alert = redis.call('HGET', KEYS[5], id)
  if alert then alerts[#alerts + 1] = alert end
end
for _, name in ipairs(redis.call('ZRANGE', KEYS[9], 0, -1)) do
  local metric = redis.call('HGET', KEYS[2], name)
  if metric then
    metrics[#metrics + 1] = metric
    prev[#prev + 1] = redis.call('HGET', KEYS[3], name) or ''
  end
end
return {redis.call('GET', KEYS[7]) or '', metrics, prev, redis.call('LRANGE', KEYS[4], 0, -1), alerts}
"""

# ARGV: version, n, (name payload prev)*n, m, feed payload*m (newest first), k, (id payload)*k
_SEED = """
if redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
local i = 2
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[9], redis.call('INCR', KEYS[8]), ARGV[i])
  if ARGV[i + 2] ~= '' then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2]) end
  i = i + 3
end
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do redis.call('RPUSH', KEYS[4], ARGV[i]); i = i + 1 end
local k = tonumber(ARGV[i]); i = i + 1
for _ = 1, k do
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[6], redis.call('INCR', KEYS[8]), ARGV[i])
  i = i + 2
end
redis.call('SET', KEYS[7], ARGV[1])
return 1
"""


def _kind(fact: Fact) -> tuple[str, str]:
    if isinstance(fact, MetricUpdated):
        return "m", fact.name
    if isinstance(fact, ActivityAdded):
        return "a", fact.key
    if isinstance(fact, AlertRaised):
        return "r", fact.id
    return "x", fact.id


def connect(url: str, timeout: float) -> aioredis.Redis:
    """A client that fails fast instead of hanging, and never retries by itself: a retried
    append that had already run would record the events twice."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisHub:
    """Appends through one script, reads through one `XREAD` loop per process."""

    kind = "redis"

    def __init__(self, url: str, prefix: str, window: int, feed_size: int) -> None:
        self._redis = connect(url, timeout=3.0)
        self._reader = connect(url, timeout=BLOCK_MS / 1000 + 5)
        self._keys = [
            f"{prefix}:{name}"
            for name in (
                "events",
                "metrics",
                "prev",
                "feed",
                "alerts",
                "alert-order",
                "version",
                "seq",
                "metric-order",
            )
        ]
        self._prefix = prefix
        self._window = window
        self._feed_size = feed_size
        self._append = self._redis.register_script(_APPEND)
        self._load = self._redis.register_script(_LOAD)
        self._seed = self._redis.register_script(_SEED)
        self._sink: Sink | None = None
        self._last = "0-0"
        self._waiters: list[tuple[tuple[int, int], asyncio.Future[None]]] = []
        self._problem: str | None = None

    @property
    def problem(self) -> str | None:
        return self._problem

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        try:
            version, metrics, prev, feed, alerts = await self._load(keys=self._keys)
        except RedisError as exc:
            raise HubUnavailable(f"redis: cannot load the dashboard state: {exc}") from exc
        state = _state(version.decode(), metrics, prev, feed, alerts)
        self._last = state.version or "0-0"
        sink.restore(state, [], self._last)

    def check_accepting(self) -> None:
        if self._problem:
            raise HubUnavailable(f"event hub unavailable ({self._problem}); nothing was recorded, retry")

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        self.check_accepting()
        args: list[Any] = [self._window, self._feed_size]
        for fact in facts:
            args.extend((*_kind(fact), _encode(fact)))
        try:
            raw = await self._append(keys=self._keys, args=args)
        except RedisError as exc:
            self._problem = f"redis: {exc}"
            sent = isinstance(exc, RedisTimeoutError) or (
                isinstance(exc, RedisConnectionError) and "connecting" not in str(exc)
            )
            # A script that was sent may have run: say so, rather than "not recorded".
            outcome = (
                "Redis did not confirm this request, so it may or may not have been recorded"
                if sent
                else "nothing of this request was recorded, retry"
            )
            raise HubUnavailable(f"event hub unavailable ({self._problem}); {outcome}") from exc
        ids = [event_id.decode() for event_id in raw]
        await self._delivered(ids[-1])
        return ids

    async def caught_up(self, event_id: str) -> None:
        await self._delivered(event_id)

    async def _delivered(self, event_id: str) -> None:
        """Wait (briefly) until this process's reader has delivered `event_id`: read your writes."""
        key = parse_id(event_id)
        last = parse_id(self._last)
        if key is None or (last is not None and key <= last):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((key, future))
        with contextlib.suppress(TimeoutError):  # recorded in Redis all the same; delivered later
            await asyncio.wait_for(asyncio.shield(future), timeout=2.0)

    async def older(self, event_id: str) -> list[tuple[Event, Change]] | None:
        if parse_id(event_id) is None:
            return None
        events = self._keys[0]
        try:
            if event_id != "0-0" and not await self._redis.xrange(events, event_id, event_id, count=1):
                return None  # trimmed away (or never ours): the client gets a snapshot
            rows = cast(Rows, await self._redis.xrange(events, "(" + event_id, self._last))
        except RedisError:
            return None
        return [_past(event_id_raw.decode(), fields) for event_id_raw, fields in rows]

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._read_forever()]

    async def _read_forever(self) -> None:
        backoff = 0.1
        failed = False
        while True:
            try:
                if failed:
                    await self._reader.ping()
                    # Redis answers again: ingest may go on at once (the XREAD below blocks).
                    await self._redis.connection_pool.disconnect()  # pooled connections died with it
                    self._problem = None
                    await self._reseed_if_empty()
                read = self._reader.xread({self._keys[0]: self._last}, count=READ_COUNT, block=BLOCK_MS)
                reply: list[tuple[bytes, Rows]] | None = cast(Any, await read)
            except RedisError as exc:
                if not failed:
                    log.warning("lost redis (%s); retrying with backoff, streams stay open", exc)
                failed = True
                self._problem = f"redis: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if failed:
                log.info("redis is back; resuming from %s", self._last)
            failed, backoff, self._problem = False, 0.1, None
            for _stream, rows in reply or ():
                self._deliver(rows)

    def _deliver(self, rows: Rows) -> None:
        assert self._sink is not None
        events = [Event(event_id.decode(), _decode_fact(fields[b"f"])) for event_id, fields in rows]
        if not events:
            return
        self._sink.deliver(events)
        self._last = events[-1].id
        last = parse_id(self._last)
        assert last is not None
        still = []
        for key, future in self._waiters:
            if key <= last:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((key, future))
        self._waiters = still

    async def _reseed_if_empty(self) -> None:
        """Redis came back without our keys (no persistence): put the last known state back."""
        assert self._sink is not None
        state = self._sink.state_data()
        if not state.version or await self._redis.exists(self._keys[6]):
            return
        args: list[Any] = [state.version, len(state.metrics)]
        for metric in state.metrics:
            previous = (
                b"" if metric.previous is None else _encode(MetricUpdated(metric.name, metric.previous, 0.0))
            )
            args.extend((metric.name, _encode(MetricUpdated(metric.name, metric.value, metric.ts)), previous))
        args.append(len(state.feed))
        args.extend(_encode(item) for item in state.feed)
        args.append(len(state.alerts))
        for alert in state.alerts:
            args.extend((alert.id, _encode(alert)))
        if await self._seed(keys=self._keys, args=args):
            log.warning("redis had no dashboard state; restored it from this process (at %s)", state.version)

    def lease(self, name: str, seconds: float, on_change: Callable[[bool], None]) -> Lease:
        return Lease(self._redis, f"{self._prefix}:lease:{name}", seconds, on_change)

    async def close(self) -> None:
        for future in (future for _, future in self._waiters):
            future.cancel()
        await self._reader.aclose()
        await self._redis.aclose()


def _past(event_id: str, fields: dict[bytes, bytes]) -> tuple[Event, Change]:
    fact = _decode_fact(fields[b"f"])
    previous = None
    if fields.get(b"p"):
        old = _decode_fact(fields[b"p"])
        previous = old.value if isinstance(old, MetricUpdated) else None
    return Event(event_id, fact), Change(fields.get(b"c") == b"1", previous)


def _state(
    version: str, metrics: list[bytes], prev: list[bytes], feed: list[bytes], alerts: list[bytes]
) -> StateData:
    values = []
    for payload, old_payload in zip(metrics, prev, strict=True):
        fact, old = _decode_fact(payload), _decode_fact(old_payload) if old_payload else None
        if isinstance(fact, MetricUpdated):
            previous = old.value if isinstance(old, MetricUpdated) else None
            values.append(MetricValue(fact.name, fact.value, fact.ts, previous))
    items = [item for item in map(_decode_fact, feed) if isinstance(item, ActivityAdded)]
    banners = [alert for alert in map(_decode_fact, alerts) if isinstance(alert, AlertRaised)]
    newest = max([v.ts for v in values] + [i.ts for i in items] + [a.ts for a in banners], default=0.0)
    return StateData(version, values, items, banners, newest)

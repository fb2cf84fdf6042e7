"""The Redis Streams backend: one dashboard across processes and instances.

Appending runs one Lua script (app/hubs/lua/append.lua): it adds each fact to the stream
`<prefix>:events` (trimmed to about the replay window; the stream id is the SSE id) and folds
it into the state kept in Redis (`:metrics`, `:prev`, `:feed`, `:alerts`, `:alert-order`,
`:version`, `:updated`) and each card's history (`:history`, `:history:<card>:1` and `:60`,
bounded by the card's retention), atomically, so a process that starts later loads a state that matches
an exact stream position. Each stream entry also records whether it created its card or banner
and the value it replaced, so any process can render any entry the same way, live or when
replaying history.

Every process runs one reader (`XREAD BLOCK`) that hands what it reads to the dashboard's
render-once fan-out: clients cost no Redis traffic. When Redis goes away, the reader retries
with backoff from its last id and /readyz says why; ingest answers 503 (nothing acknowledged
is lost); open streams keep their heartbeats. If Redis comes back empty (no persistence),
the first process to reconnect writes its last known state back.

Viewer links are a hash `<prefix>:viewer-links` (id -> the link as JSON, its secret hashed),
when each was last seen `<prefix>:viewer-seen`, and the streams open on each
`<prefix>:viewer-streams` (`<link>|<process>` -> `<count>|<until>`): each process rewrites its
own fields every second, so a process that died stops counting once its fields expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from importlib import resources
from typing import Any, TypeVar, cast

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from app.domain.events import Change, Event
from app.domain.history import BUCKET_SECONDS, History, Row
from app.domain.ids import id_key, parse_id
from app.domain.model import (
    ActivityAdded,
    AlertRaised,
    AlertResolved,
    Fact,
    MetricRemoved,
    MetricStale,
    MetricUpdated,
)
from app.domain.state import MetricValue, StateData
from app.domain.viewers import ViewerLink, decode_link, encode_link
from app.hubs.base import HubUnavailable, Sink
from app.hubs.lease import Lease

log = logging.getLogger("livedash.redis")

_T = TypeVar("_T")

_encode = msgspec.msgpack.Encoder().encode
_decode_fact = msgspec.msgpack.Decoder(Fact).decode

Rows = list[tuple[bytes, dict[bytes, bytes]]]
"""Stream entries as redis-py returns them (bytes, as the clients do not decode)."""

BLOCK_MS = 5000
LINK_STREAMS_TTL = 5.0
"""Seconds a process's report of its open streams per viewer link counts (it reports every second)."""
READ_COUNT = 1000

NOT_RECORDED = "nothing of this request was recorded, retry"
MAYBE_RECORDED = "Redis did not confirm this request, so it may or may not have been recorded"

KEY_NAMES = (
    "events",
    "metrics",
    "prev",
    "feed",
    "alerts",
    "alert_order",
    "version",
    "seq",
    "metric_order",
    "updated",
    "history",
)
"""The keys of one dashboard, `<prefix>:<name>` (with `-` for `_`), in the order they are passed.
Each script binds KEYS to these very names at its top; `load_script` refuses one that does not."""

APPEND_ARGV = ("maxlen", "feed_size", "newest_ts")
"""append.lua's fixed arguments; one (kind, key, payload, guard) quadruple per fact follows them."""
SEED_ARGV = ("at_version", "updated_at")
"""seed.lua's fixed arguments; the counted metrics, feed and alerts follow them."""

METRIC, ACTIVITY, RAISED, RESOLVED, STALE, REMOVED = "m", "a", "r", "x", "s", "d"
"""The kinds append.lua folds, as it spells them."""


def check_binding(source: str, table: str, names: Sequence[str]) -> None:
    """Raise `ValueError` unless `source` binds `table` (KEYS or ARGV) to exactly `names` in one
    `local` statement and indexes it by number nowhere else, so a script can never read one
    key or argument as another."""
    positions = ", ".join(f"{table}[{i}]" for i in range(1, len(names) + 1))
    header = f"local {', '.join(names)} = {positions}"
    numbered = len(re.findall(rf"\b{table}\[\d+\]", source))
    bound = not names or header in " ".join(source.split())
    if not bound or numbered != len(names):
        raise ValueError(
            f"the script must bind {table} as `{header}` and index {table} by number nowhere else"
        )


def load_script(name: str, argv: Sequence[str] = ()) -> str:
    """The source of app/hubs/lua/`name`, checked against `KEY_NAMES` and its fixed `argv`."""
    source = (resources.files("app.hubs") / "lua" / name).read_text(encoding="utf-8")
    try:
        check_binding(source, "KEYS", KEY_NAMES)
        check_binding(source, "ARGV", argv)
    except ValueError as exc:
        raise ValueError(f"app/hubs/lua/{name}: {exc}") from None
    return source


_APPEND = load_script("append.lua", APPEND_ARGV)
_LOAD = load_script("load.lua")
_SEED = load_script("seed.lua", SEED_ARGV)


def _kind(fact: Fact, retention: Callable[[str], int]) -> tuple[str, str, bytes]:
    """append.lua's kind for `fact`, the key it folds under and its guard; `TypeError` for a fact
    it has no fold for (a guess would fold it as something else, in every process, for good).

    A stale mark's guard is the exact payload of the point it marks (what the Python fold,
    `state.is_stale_of`, compares by value and ts): it folds only while that point is newest.
    A point's is the seconds of history its card keeps (`retention(name)`).
    """
    if isinstance(fact, MetricUpdated):
        return METRIC, fact.name, str(retention(fact.name)).encode()
    if isinstance(fact, ActivityAdded):
        return ACTIVITY, fact.key, b""
    if isinstance(fact, AlertRaised):
        return RAISED, fact.id, b""
    if isinstance(fact, AlertResolved):
        return RESOLVED, fact.id, b""
    if isinstance(fact, MetricStale):
        return STALE, fact.name, _encode(MetricUpdated(fact.name, fact.value, fact.ts))
    if isinstance(fact, MetricRemoved):
        return REMOVED, fact.name, b""
    raise TypeError(f"the Redis hub has no fold for {fact!r}")


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

    def __init__(self, url: str, prefix: str, window: int, feed_size: int, timeout: float = 3.0) -> None:
        """`timeout`: how long an append may wait for Redis to answer before it is refused."""
        self._redis = connect(url, timeout=timeout)
        self._reader = connect(url, timeout=BLOCK_MS / 1000 + 5)
        self._keys = [f"{prefix}:{name.replace('_', '-')}" for name in KEY_NAMES]
        self._key = dict(zip(KEY_NAMES, self._keys, strict=True))
        self._prefix = prefix
        self._window = window
        self._feed_size = feed_size
        self._append = self._redis.register_script(_APPEND)
        self._load = self._redis.register_script(_LOAD)
        self._seed = self._redis.register_script(_SEED)
        self._sink: Sink | None = None
        self._retention = History().retention
        """Seconds of history each card keeps: the dashboard's, once started."""
        self._last = "0-0"
        self._lag = 0.0
        self._waiters: list[tuple[tuple[int, int], asyncio.Future[None]]] = []
        self._problem: str | None = None
        self._left_behind: set[asyncio.Future[Any]] = set()
        self._process = uuid.uuid4().hex[:12]
        self._reported: set[str] = set()

    @property
    def problem(self) -> str | None:
        return self._problem

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        self._retention = sink.history.retention
        try:
            version, metrics, prev, feed, alerts, updated, histories = await self._load(keys=self._keys)
        except RedisError as exc:
            raise HubUnavailable(f"redis: cannot load the dashboard state: {exc}") from exc
        state = _state(version.decode(), metrics, prev, feed, alerts, updated.decode())
        sink.history.restore(_history_rows(histories))
        self._last = state.version or "0-0"
        sink.restore(state, [], self._last)

    def check_accepting(self) -> None:
        if self._problem:
            raise HubUnavailable(f"event hub unavailable ({self._problem}); nothing was recorded, retry")

    async def append(self, facts: Sequence[Fact]) -> list[str]:
        if not facts:
            return []
        args: list[EncodableT] = [self._window, self._feed_size, repr(max(fact.ts for fact in facts))]
        for fact in facts:
            kind, key, guard = _kind(fact, self._retention)
            args.extend((kind, key, _encode(fact), guard))
        self.check_accepting()
        raw = await self._run_append(args)
        ids = [event_id.decode() for event_id in raw]
        await self._delivered(ids[-1])
        return ids

    async def _run_append(self, args: Sequence[EncodableT]) -> list[bytes]:
        """Run append.lua once, telling apart by where it failed what Redis may have recorded.

        Until a connection is ready nothing of the request has left this process; once the
        script is sent, a lost or late answer leaves it unknown whether it ran. Never retried
        here: a retry of a script that had run would record the events twice.
        """
        pool = self._redis.connection_pool
        get_connection = cast(Callable[[], Awaitable[AbstractConnection]], pool.get_connection)
        try:
            connection = await get_connection()  # connected, or it raises: nothing was sent
        except RedisError as exc:
            raise self._unavailable(exc, NOT_RECORDED) from exc
        try:
            return cast(list[bytes], await _evaluate(connection, self._append, self._keys, args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise self._unavailable(exc, MAYBE_RECORDED) from exc
        except RedisError as exc:
            # Redis answered with an error: it refuses a script before it runs (OOM, READONLY,
            # BUSY, LOADING), and append.lua refuses a bad batch before its first write.
            raise self._unavailable(exc, NOT_RECORDED) from exc
        finally:
            await pool.release(connection)

    def _unavailable(self, exc: RedisError, outcome: str) -> HubUnavailable:
        self._problem = f"redis: {exc}"
        return HubUnavailable(f"event hub unavailable ({self._problem}); {outcome}")

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
        events = self._key["events"]
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
                reply = await self._promptly(self._read(failed))
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

    async def _read(self, failed: bool) -> list[tuple[bytes, Rows]] | None:
        """The next events after `self._last` (within `BLOCK_MS`); first, after a failure, check
        that Redis answers and still has our state."""
        if failed:
            await self._reader.ping()
            # Redis answers again: ingest may go on at once (the XREAD below blocks).
            await self._redis.connection_pool.disconnect()  # pooled connections died with it
            self._problem = None
            await self._reseed_if_empty()
        read = self._reader.xread({self._key["events"]: self._last}, count=READ_COUNT, block=BLOCK_MS)
        return cast(list[tuple[bytes, Rows]] | None, await read)

    async def _promptly(self, work: Coroutine[Any, Any, _T]) -> _T:
        """`await work`, but in a task of its own, left behind at once when this one is cancelled.

        redis-py sends through `asyncio.wait_for`, which on Python 3.11 swallows a cancellation
        that arrives just as the send completes: awaited directly, the reader would read on, and
        a shutdown that cancels it and waits for it would wait for ever. What is left behind
        ends when `close()` closes its connection.
        """
        task = asyncio.ensure_future(work)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            self._left_behind.add(task)
            task.add_done_callback(self._forget)
            raise
        return task.result()

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._left_behind.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its connection was closed under it, as intended

    def _deliver(self, rows: Rows) -> None:
        assert self._sink is not None
        events = [Event(event_id.decode(), _decode_fact(fields[b"f"])) for event_id, fields in rows]
        if not events:
            return
        self._sink.deliver(events)
        self._last = events[-1].id
        # A stream id's first half is when Redis appended it (ms): how far behind this reader is.
        self._lag = max(0.0, time.time() - id_key(self._last)[0] / 1000)
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
        if not state.version or await self._redis.exists(self._key["version"]):
            return
        args: list[EncodableT] = [state.version, repr(state.updated_at), len(state.metrics)]
        for metric in state.metrics:
            previous = (
                b"" if metric.previous is None else _encode(MetricUpdated(metric.name, metric.previous, 0.0))
            )
            point: Fact = (
                MetricStale(metric.name, metric.value, metric.ts, metric.previous)
                if metric.stale
                else MetricUpdated(metric.name, metric.value, metric.ts)
            )
            args.extend((metric.name, _encode(point), previous))
        args.append(len(state.feed))
        args.extend(_encode(item) for item in state.feed)
        args.append(len(state.alerts))
        for alert in state.alerts:
            args.extend((alert.id, _encode(alert)))
        series = self._sink.history.series
        args.append(len(series))
        for name, held in series.items():
            rows = held.all_rows(name)
            args.extend((name, _exact(held.newest), len(rows)))
            for row in rows:
                args.extend((row.res, row.ts, _member(row)))
        if await self._seed(keys=self._keys, args=args):
            log.warning("redis had no dashboard state; restored it from this process (at %s)", state.version)

    def telemetry(self) -> dict[str, float]:
        return {"reader_lag_seconds": self._lag}

    def lease(self, name: str, seconds: float, on_change: Callable[[bool], None]) -> Lease:
        return Lease(self._redis, f"{self._prefix}:lease:{name}", seconds, on_change)

    # --- viewer links ----------------------------------------------------------------

    async def _links_call(self, work: Awaitable[_T]) -> _T:
        try:
            return await work
        except RedisError as exc:
            raise self._unavailable(exc, NOT_RECORDED) from exc

    async def add_link(self, link: ViewerLink) -> None:
        await self._links_call(self._redis.hset(f"{self._prefix}:viewer-links", link.id, encode_link(link)))

    async def get_link(self, link_id: str) -> ViewerLink | None:
        raw, seen = await self._links_call(self._get_link(link_id))
        return _with_seen(decode_link(raw), seen) if raw else None

    async def _get_link(self, link_id: str) -> tuple[bytes | None, bytes | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(f"{self._prefix}:viewer-links", link_id)
            pipe.hget(f"{self._prefix}:viewer-seen", link_id)
            raw, seen = await pipe.execute()
        return raw, seen

    async def list_links(self) -> list[ViewerLink]:
        links, seen = await self._links_call(self._list_links())
        found = [_with_seen(decode_link(raw), seen.get(link_id)) for link_id, raw in links.items()]
        return sorted(found, key=lambda link: link.created_at)

    async def _list_links(self) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{self._prefix}:viewer-links")
            pipe.hgetall(f"{self._prefix}:viewer-seen")
            links, seen = await pipe.execute()
        return links, seen

    async def remove_link(self, link_id: str) -> bool:
        removed = await self._links_call(self._redis.hdel(f"{self._prefix}:viewer-links", link_id))
        await self._links_call(self._redis.hdel(f"{self._prefix}:viewer-seen", link_id))
        return bool(removed)

    async def link_seen(self, link_id: str, at: float) -> None:
        await self._links_call(self._redis.hset(f"{self._prefix}:viewer-seen", link_id, repr(at)))

    async def link_streams(self, mine: Mapping[str, int]) -> dict[str, int]:
        key = f"{self._prefix}:viewer-streams"
        now = time.time()
        until = now + LINK_STREAMS_TTL
        fields = {
            f"{link_id}|{self._process}": f"{count}|{until}" for link_id, count in mine.items() if count
        }
        gone = self._reported - fields.keys()
        self._reported = set(fields)
        async with self._redis.pipeline(transaction=False) as pipe:
            if gone:
                pipe.hdel(key, *gone)
            if fields:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.hgetall(key)
            replies = await self._links_call(pipe.execute())
        totals: dict[str, int] = {}
        expired = []
        for field, value in cast(dict[bytes, bytes], replies[-1]).items():
            count, _, ends = value.decode().partition("|")
            if float(ends or 0) < now:
                expired.append(field)
                continue
            link_id = field.decode().partition("|")[0]
            totals[link_id] = totals.get(link_id, 0) + int(count)
        if expired:
            await self._links_call(self._redis.hdel(key, *expired))
        return totals

    async def close(self) -> None:
        for future in (future for _, future in self._waiters):
            future.cancel()
        await self._reader.aclose()
        await self._redis.aclose()
        if self._left_behind:  # a read left behind by a cancelled reader ends with its connection
            await asyncio.wait(set(self._left_behind), timeout=BLOCK_MS / 1000)


async def _evaluate(
    connection: AbstractConnection, script: AsyncScript, keys: Sequence[str], args: Sequence[EncodableT]
) -> Any:
    """Run `script` on `connection` by its sha, or whole when this Redis has not seen it yet."""
    await connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return await connection.read_response()
    except NoScriptError:  # a restarted or flushed Redis; nothing ran
        await connection.send_command("EVAL", script.script, len(keys), *keys, *args)
        return await connection.read_response()


def _past(event_id: str, fields: dict[bytes, bytes]) -> tuple[Event, Change]:
    fact = _decode_fact(fields[b"f"])
    previous = None
    if isinstance(fact, MetricStale):
        previous = fact.previous  # a stale mark carries its own, whether it applied or not
    elif fields.get(b"p"):
        old = _decode_fact(fields[b"p"])
        previous = old.value if isinstance(old, (MetricUpdated, MetricStale)) else None
    return Event(event_id, fact), Change(fields.get(b"c") == b"1", previous)


def _state(
    version: str,
    metrics: list[bytes],
    prev: list[bytes],
    feed: list[bytes],
    alerts: list[bytes],
    updated: str,
) -> StateData:
    values = []
    for payload, old_payload in zip(metrics, prev, strict=True):
        fact, old = _decode_fact(payload), _decode_fact(old_payload) if old_payload else None
        if isinstance(fact, (MetricUpdated, MetricStale)):
            previous = old.value if isinstance(old, (MetricUpdated, MetricStale)) else None
            stale = isinstance(fact, MetricStale)
            values.append(MetricValue(fact.name, fact.value, fact.ts, previous, stale))
    items = [item for item in map(_decode_fact, feed) if isinstance(item, ActivityAdded)]
    banners = [alert for alert in map(_decode_fact, alerts) if isinstance(alert, AlertRaised)]
    if updated:
        newest = float(updated)
    else:  # kept by a livedash from before `:updated`: the newest of what is still there
        newest = max([v.ts for v in values] + [i.ts for i in items] + [a.ts for a in banners], default=0.0)
    return StateData(version, values, items, banners, newest)


def _with_seen(link: ViewerLink, seen: bytes | None) -> ViewerLink:
    return msgspec.structs.replace(link, last_seen=float(seen)) if seen else link


def _exact(number: float) -> str:
    """A float as append.lua writes it (`%.17g`): read back, the very same number."""
    return format(number, ".17g")


def _member(row: Row) -> str:
    """A history row as append.lua stores it: 'ts|min|max|last|count|last_ts'."""
    numbers = "|".join(_exact(value) for value in (row.min, row.max, row.last))
    return f"{row.ts}|{numbers}|{row.samples}|{_exact(row.last_ts)}"


def _history_rows(histories: list[list[Any]]) -> list[Row]:
    """load.lua's (name, raw members, bucket members) per card, as the rows `History` restores."""
    rows = []
    for name, raw, buckets in histories:
        card = name.decode()
        for res, members in ((1, raw), (BUCKET_SECONDS, buckets)):
            for member in members:
                ts, low, high, last, count, last_ts = member.decode().split("|")
                rows.append(
                    Row(card, res, int(ts), float(low), float(high), float(last), int(count), float(last_ts))
                )
    return rows

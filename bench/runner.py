"""The phases of a run, per server: connect, steady, slow consumers, page, ingest.

Every server figure is a difference of /proc readings taken around one phase, divided by
what the phase delivered; the load client's own CPU is read the same way, so a reader can
see it had room to spare.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import platform
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import ingest, page, procstat, servers
from bench.control import Control, burst_message
from bench.loadgen import Fleet, Stream, until
from bench.options import Options
from bench.publisher import Plan, Published, Publisher, name_of
from bench.servers import Server
from bench.stats import summary_ms

SLOW_EVERY = 10  # every tenth client can stall: opened with a small receive buffer
CLIENT_BUFFER_BYTES = 65536  # livedash's default LIVEDASH_CLIENT_BUFFER_BYTES
TRANSPORT_BUFFER_BYTES = 65536  # headroom for what waits in the transport's write buffer
SEED_VALUE = 0  # below every sequence number a phase publishes
# Activity items (about 450 bytes each, never conflated) sent while half of the stalled
# clients still do not read: more than their kernel buffers, the transport's and the
# client buffer hold together, so the server must drop them.
BURST_ITEMS = 600


@dataclass
class Deployment:
    """The servers the clients are spread over (one, or two sharing Redis), and helpers."""

    servers: list[Server]

    @property
    def publisher(self) -> Server:
        return self.servers[0]

    def cpu(self) -> float:
        return sum(server.cpu() for server in self.servers)

    def kernel_cpu(self) -> float:
        """System (kernel) CPU seconds of the servers so far."""
        return sum(server.cpu_split()[1] for server in self.servers)

    def rss(self) -> int:
        return sum(server.rss() for server in self.servers)

    async def streams(self) -> int:
        """Open streams, as the servers count them (/healthz)."""
        total = 0
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            for server in self.servers:
                health = (await http.get(server.url + "/healthz")).json()
                total += int(health["streams"])
        return total

    async def wait_streams(self, count: int, timeout: float) -> bool:
        """Wait until the servers report exactly `count` open streams."""
        deadline = time.monotonic() + timeout
        while await self.streams() != count:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    def seed(self, names: Sequence[str]) -> None:
        """One point per name before any client connects, so live events are card updates
        (`metric-<name>`), not `new-metric`."""
        with Control(self.publisher) as control:
            control.cards(names, SEED_VALUE)


def _per(value: float, count: int, scale: float = 1.0, digits: int = 3) -> float | None:
    return round(value / count * scale, digits) if count else None


async def connect_phase(dep: Deployment, fleet: Fleet, opts: Options) -> dict[str, Any]:
    """Open every client, wait until all stream, then read the idle memory per connection."""
    streams = [fleet.new_stream(i, small_rcvbuf=i % SLOW_EVERY == 0) for i in range(opts.clients)]
    fleet.streams = streams
    rss_before = dep.rss()
    cpu, own, started = dep.cpu(), procstat.own_cpu_seconds(), time.monotonic()
    await fleet.open(streams)
    all_in = await dep.wait_streams(opts.clients, timeout=60)
    await until(lambda: all(s.ready or s.gone for s in streams), time.monotonic() + 30)
    elapsed = time.monotonic() - started
    cpu, own = dep.cpu() - cpu, procstat.own_cpu_seconds() - own
    await asyncio.sleep(1.0)  # let the last writes settle before reading the idle footprint
    rss = dep.rss()
    connected = sum(1 for s in streams if s.ready and not s.gone)
    return {
        "clients": opts.clients,
        "connected": connected,
        "refused": fleet.refused,
        "server_counted_all": all_in,
        "seconds": round(elapsed, 3),
        "server_cpu_ms_per_conn": _per(cpu, connected, 1000, 4),
        "rss_before_kib": rss_before,
        "rss_kib": rss,
        "rss_kib_per_conn": _per(rss - rss_before, connected, 1, 2),
        "loadgen_cpu_s": round(own, 3),
    }


async def publish_phase(
    dep: Deployment,
    fleet: Fleet,
    opts: Options,
    base: int,
    seconds: float,
    tracked: Sequence[Stream] = (),
) -> tuple[dict[str, Any], Published]:
    """Publish `rate` events a second for `seconds`; every untracked client must get each once."""
    count = round(opts.rate * seconds)
    server = dep.publisher
    plan = Plan(
        port=server.port,
        path=server.publish_path,
        token=server.token,
        names=opts.names,
        base=base,
        count=count,
        rate=opts.rate,
    )
    publisher = Publisher(plan)
    try:
        await publisher.start()
        fleet.begin(base, tracked)
        strict = [s for s in fleet.streams if not s.tracked]
        rss_before = rss_peak = dep.rss()
        cpu, own, started = dep.cpu(), procstat.own_cpu_seconds(), time.monotonic()
        kernel = dep.kernel_cpu()
        machine = procstat.machine_seconds()
        publisher.go()
        result = asyncio.ensure_future(publisher.result())
        while not result.done():
            rss_peak = max(rss_peak, dep.rss())
            await asyncio.wait({result}, timeout=0.25)
        published = result.result()
        drained = await _drain(strict, base + count, opts.drain_seconds)
        elapsed = time.monotonic() - started
        cpu, own = dep.cpu() - cpu, procstat.own_cpu_seconds() - own
        kernel = dep.kernel_cpu() - kernel
        busy, total = (now - then for now, then in zip(procstat.machine_seconds(), machine, strict=True))
        rss_peak = max(rss_peak, dep.rss())
    finally:
        publisher.kill()
    got = sum(s.got for s in strict)
    extra = sum(s.extra for s in strict)
    heartbeats = sum(s.heartbeats for s in fleet.streams)
    delivered = sum(s.got + s.extra for s in fleet.streams)
    sent = published["sent_at"]
    # Achieved, not offered: from the first publish to the last frame read.
    span = max(fleet.last_receive() - sent[0], count / opts.rate) if sent else seconds
    result_figures: dict[str, Any] = {
        "events": count,
        "clients": len(strict),
        "deliveries": got + extra,
        "expected_deliveries": count * len(strict),
        "lost": count * len(strict) - got,
        "extra": extra,
        "malformed": sum(s.malformed for s in fleet.streams),
        "drained": drained,
        "heartbeat_deliveries": heartbeats,
        "deliveries_per_s": round((got + extra) / span),
        "server_cpu_us_per_delivery": _per(cpu, delivered + heartbeats, 1e6, 2),
        "server_kernel_us_per_delivery": _per(kernel, delivered + heartbeats, 1e6, 2),
        "server_cpu_pct": round(cpu / elapsed * 100, 1),
        "latency_ms": summary_ms(fleet.latencies(sent, base)),
        "rss_before_kib": rss_before,
        "rss_peak_kib": rss_peak,
        "publish_errors": published["errors"][:10],
        "publish_late": published["late"],
        "loadgen_cpu_pct": round(own / elapsed * 100, 1),
        "others_pct_of_machine": round(max(0.0, busy - cpu - own) / total * 100, 1) if total else None,
        "loadgen_cpu_us_per_delivery": _per(own, delivered + heartbeats, 1e6, 2),
    }
    return result_figures, published


async def _drain(streams: Sequence[Stream], end: int, patience: float, cap: float = 90.0) -> bool:
    """Wait until every stream has read up to sequence `end` (exclusive).

    Late is not lost: keep waiting while deliveries still arrive; give up after `patience`
    seconds without any, or after `cap`. Whether all arrived.
    """
    started = quiet_since = time.monotonic()
    seen = -1
    while not all(s.expected >= end or s.gone for s in streams):
        now = time.monotonic()
        progress = sum(s.got + s.extra for s in streams)
        if progress != seen:
            seen, quiet_since = progress, now
        elif now - quiet_since > patience or now - started > cap:
            return False
        await asyncio.sleep(0.1)
    return True


def latest_values(names: list[str], base: int, count: int) -> dict[bytes, int]:
    """The value each card must end with after a phase: its last sequence number."""
    return {name_of(names, seq).encode(): seq for seq in range(base, base + count)}


async def slow_phase(
    dep: Deployment, fleet: Fleet, opts: Options, base: int, all_fast_p99: float | None
) -> dict[str, Any]:
    """A tenth of the clients stop reading during a publishing phase; see what it costs.

    The others' latency should barely move and the server's memory stay bounded. Then half
    of the stalled clients read again and must catch up in place (conflation hands them the
    latest value of each card). The other half stay stalled through a burst of activity
    items, which are never conflated, so the server has to drop them; they reconnect with
    Last-Event-ID and must get every item they missed. Either way: nothing owed is lost.
    """
    stalled = [s for s in fleet.streams if s.small_rcvbuf and not s.gone]
    for stream in stalled:
        stream.pause()
    fast, _published = await publish_phase(dep, fleet, opts, base, opts.slow_seconds, tracked=stalled)
    latest = latest_values(opts.names, base, fast["events"])
    rss_peak = fast["rss_peak_kib"]
    # The others are measured: close them, so the burst costs only what the stalled receive.
    for stream in fleet.streams:
        if not stream.tracked:
            stream.close()
    await dep.wait_streams(sum(1 for s in stalled if not s.gone), timeout=30)
    readers, holdouts = stalled[::2], stalled[1::2]
    for stream in readers:
        stream.resume()
    await _settle(readers, lambda s: s.has_latest(latest))
    in_place = [s for s in readers if not s.gone and s.has_latest(latest)]

    loop = asyncio.get_running_loop()
    burst = asyncio.ensure_future(loop.run_in_executor(None, _burst, dep.publisher))
    while not burst.done():
        rss_peak = max(rss_peak, dep.rss())
        await asyncio.wait({burst}, timeout=0.1)
    burst.result()
    for stream in holdouts:
        stream.resume()
    await _settle(stalled, lambda s: s.settled(latest, BURST_ITEMS))
    dropped = [s for s in stalled if s.gone]
    resumed = [fleet.reopen(s) for s in dropped]
    fleet.streams.extend(resumed)
    await fleet.open(resumed)
    await _settle(resumed, lambda s: s.settled(latest, BURST_ITEMS))
    final = [s for s in stalled if not s.gone] + resumed
    rss_growth = rss_peak - fast["rss_before_kib"]
    p99 = fast["latency_ms"]["p99"]
    return {
        "stalled": len(stalled),
        "fast": fast,
        "fast_p99_ratio": round(p99 / all_fast_p99, 3) if p99 is not None and all_fast_p99 else None,
        "rss_growth_kib": rss_growth,
        "rss_growth_kib_per_stalled": _per(rss_growth, len(stalled), 1, 2),
        "rss_bound_kib": len(stalled) * (CLIENT_BUFFER_BYTES + TRANSPORT_BUFFER_BYTES) // 1024,
        "readers": len(readers),
        "caught_up_in_place": len(in_place),
        "caught_up_every_event": sum(1 for s in in_place if not s.skipped),
        "caught_up_conflated": sum(1 for s in in_place if s.skipped),
        "burst_items": BURST_ITEMS,
        "burst_kib_per_client": round(BURST_ITEMS * len(burst_message(0)) / 1024),
        "holdouts": len(holdouts),
        "dropped_by_server": len(dropped),
        "dropped_holdouts": sum(1 for s in holdouts if s.gone),
        "resumed_ok": sum(1 for s in resumed if s.settled(latest, BURST_ITEMS)),
        "resumed_every_event": sum(1 for s in resumed if not s.skipped and not s.snapshots),
        "owed_lost": sum(1 for s in final if not s.settled(latest, BURST_ITEMS)),
        "duplicates": sum(s.burst_extra for s in final),
        "regressions": sum(s.regressions for s in final),
    }


async def _settle(streams: Sequence[Stream], done: Callable[[Stream], bool], timeout: float = 30.0) -> None:
    """Wait until each of `streams` is `done` or gone (or `timeout` passes)."""
    await until(lambda: all(s.gone or done(s) for s in streams), time.monotonic() + timeout, every=0.1)


def _burst(server: Server) -> None:
    with Control(server) as control:
        control.activity(burst_message(k) for k in range(BURST_ITEMS))


async def _close_streams(dep: Deployment, fleet: Fleet) -> bool:
    fleet.close()
    return await dep.wait_streams(0, timeout=30)


async def run_livedash(opts: Options, log_dir: Path, token: str) -> dict[str, Any]:
    """Every phase against one livedash process with the embedded backend."""
    with contextlib.ExitStack() as stack:
        server = servers.start_livedash("livedash", log_dir, token, opts.livedash_env())
        stack.callback(server.stop)
        await servers.wait_ready(server)
        dep = Deployment([server])
        dep.seed(opts.names)
        fleet = Fleet([server.port], server.stream_path)
        figures: dict[str, Any] = {"pid": server.pid}
        figures["connect"] = await connect_phase(dep, fleet, opts)
        figures["steady"], _ = await publish_phase(dep, fleet, opts, 1, opts.seconds)
        figures["slow"] = await slow_phase(
            dep, fleet, opts, 1 + opts.events, figures["steady"]["latency_ms"]["p99"]
        )
        figures["closed_all"] = await _close_streams(dep, fleet)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, page.seed, server, [f"bench-{i}" for i in range(page.CARDS)])
        figures["page"] = await loop.run_in_executor(None, page.measure, server, opts.page_requests)
        figures["ingest"] = await ingest.measure(server, opts.ingest_seconds)
        figures["log_problems"] = server.log_problems()
        return figures


async def run_node(opts: Options, log_dir: Path) -> dict[str, Any]:
    """The reference broadcaster: connect and steady, measured exactly like livedash."""
    with contextlib.ExitStack() as stack:
        server = servers.start_node(log_dir)
        stack.callback(server.stop)
        await servers.wait_ready(server)
        dep = Deployment([server])
        dep.seed(opts.names)
        fleet = Fleet([server.port], server.stream_path)
        figures: dict[str, Any] = {"pid": server.pid}
        figures["connect"] = await connect_phase(dep, fleet, opts)
        figures["steady"], _ = await publish_phase(dep, fleet, opts, 1, opts.seconds)
        figures["closed_all"] = await _close_streams(dep, fleet)
        figures["log_problems"] = server.log_problems()
        return figures


async def _writes(server: Server) -> float:
    """Writes to clients so far, as livedash's /metrics counts them (both formats)."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        text = (await http.get(server.url + "/metrics")).text
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("livedash_writes_total{")
    )


async def run_heavy(opts: Options, log_dir: Path, token: str, kind: str) -> dict[str, Any]:
    """The heavy board: many cards changing at once, every change counted, throttle off.

    livedash bounds the writes per client (LIVEDASH_FLUSH_HZ, default 10 a second); the
    node:http reference writes every event to every client, as naive fan-out does.
    """
    heavy = opts.heavy()
    with contextlib.ExitStack() as stack:
        if kind == "livedash":
            env = {**opts.livedash_env(), "LIVEDASH_CARD_RATE": "0"}
            server = servers.start_livedash("livedash-heavy", log_dir, token, env)
        else:
            server = servers.start_node(log_dir, name="node-heavy")
        stack.callback(server.stop)
        await servers.wait_ready(server)
        dep = Deployment([server])
        dep.seed(heavy.names)
        fleet = Fleet([server.port], server.stream_path)
        figures: dict[str, Any] = {"pid": server.pid, "cards": heavy.heavy_cards}
        figures["connect"] = await connect_phase(dep, fleet, heavy)
        writes = await _writes(server) if kind == "livedash" else 0.0
        steady, _ = await publish_phase(dep, fleet, heavy, 1, heavy.seconds)
        span = steady["deliveries"] / steady["deliveries_per_s"] if steady["deliveries_per_s"] else None
        if kind == "livedash" and span:
            steady["writes_per_s"] = round((await _writes(server) - writes) / span)
        else:  # one res.write per event per client, by construction
            steady["writes_per_s"] = steady["deliveries_per_s"]
        figures["steady"] = steady
        figures["closed_all"] = await _close_streams(dep, fleet)
        figures["log_problems"] = server.log_problems()
        return figures


async def run_redis(opts: Options, log_dir: Path, token: str) -> dict[str, Any]:
    """Two livedash processes sharing a private Redis, clients split between them, events
    published through the first: what the Redis hop costs."""
    with contextlib.ExitStack() as stack:
        redis = servers.start_redis(log_dir)
        stack.callback(redis.stop)
        await servers.wait_redis(redis)
        env = {**opts.livedash_env(), "LIVEDASH_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
        pair = [servers.start_livedash(f"livedash-redis-{x}", log_dir, token, env) for x in "ab"]
        for server in pair:
            stack.callback(server.stop)
        for server in pair:
            await servers.wait_ready(server)
        dep = Deployment(pair)
        dep.seed(opts.names)
        await asyncio.sleep(0.5)  # let the seed reach the second process through Redis
        fleet = Fleet([s.port for s in pair], pair[0].stream_path)
        figures: dict[str, Any] = {"pids": [s.pid for s in pair], "redis_port": redis.port}
        figures["connect"] = await connect_phase(dep, fleet, opts)
        redis_cpu = redis.cpu()
        steady, published = await publish_phase(dep, fleet, opts, 1, opts.seconds)
        steady["redis_cpu_s"] = round(redis.cpu() - redis_cpu, 3)
        for index, server in enumerate(pair):
            part = [s for s in fleet.streams if s.server == index]
            steady[f"{server.name}_lost"] = opts.events * len(part) - sum(s.got for s in part)
            steady[f"{server.name}_latency_ms"] = summary_ms(fleet.latencies(published["sent_at"], 1, index))
        figures["steady"] = steady
        figures["closed_all"] = await _close_streams(dep, fleet)
        figures["log_problems"] = {f"{s.name}: {msg}": n for s in pair for msg, n in s.log_problems().items()}
        return figures


def _node_version() -> str | None:
    try:
        return subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


async def run(opts: Options, log_dir: Path) -> dict[str, Any]:
    """Run every server the options ask for, one after another; a failure is recorded, not fatal."""
    nofile = procstat.raise_nofile_limit()
    token = secrets.token_urlsafe(24)
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "options": opts.as_json(),
            "python": platform.python_version(),
            "node": _node_version(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": list(os.getloadavg()),
            "nofile": nofile,
            "logs": str(log_dir),
        },
        "servers": {},
    }
    plan: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
    if "livedash" in opts.only:
        plan.append(("livedash", lambda: run_livedash(opts, log_dir, token)))
    if "node" in opts.only:
        plan.append(("node", lambda: run_node(opts, log_dir)))
    if opts.heavy_on:
        for kind in opts.only:
            plan.append((f"{kind}-heavy", functools.partial(run_heavy, opts, log_dir, token, kind)))
    if opts.backend == "redis" and "livedash" in opts.only:
        plan.append(("livedash-redis", lambda: run_redis(opts, log_dir, token)))
    for name, start in plan:
        began = time.monotonic()
        try:
            results["servers"][name] = await start()
        except Exception as exc:  # keep going: the other servers' figures are still worth having
            results["servers"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        results["servers"][name]["wall_s"] = round(time.monotonic() - began, 1)
    return results

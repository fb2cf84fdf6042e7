"""The fan-out targets checked against a run's figures, and the table a person reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CPU_PER_DELIVERY_US = 6.0
CPU_VS_NODE = 0.5
P99_MS = 100.0
RSS_PER_CONN_KIB = 11.0
CONNECT_CPU_MS = 0.2
PAGE_P50_MS = 5.0
INGEST_POINTS_PER_S = 50_000
SLOW_P99_RATIO = 1.25
HEAVY_CPU_PER_DELIVERY_US = 1.5
HEAVY_CPU_VS_NODE = 0.2
HEAVY_P99_MS = 150.0
REDIS_CPU_VS_EMBEDDED = 1.1  # a process's capacity with Redis within 10 % of the embedded backend's


@dataclass(frozen=True)
class Check:
    """One target: the figure, what it must be, and whether it was (None: not measured)."""

    figure: str
    value: str
    target: str
    ok: bool | None


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and abs(value) >= 1000):
        text = f"{value:,.0f}"
    else:
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip()


def _ceiling(name: str, value: Any, digits: int, unit: str, limit: float) -> Check:
    """A target of the form "at most `limit` `unit`" (no verdict when not measured)."""
    verdict = None if value is None else bool(value <= limit)
    return Check(name, _num(value, digits, unit), f"≤ {limit:g} {unit}", verdict)


def _none(name: str, count: Any) -> Check:
    """A target of the form "none of these" (lost events, for instance)."""
    return Check(name, _num(count), "0", None if count is None else count == 0)


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """livedash / node:http for the headline figures measured on both."""
    out: dict[str, float | None] = {}
    servers = results["servers"]
    for key, path in (
        ("cpu_per_delivery", ("steady", "server_cpu_us_per_delivery")),
        ("rss_per_conn", ("connect", "rss_kib_per_conn")),
        ("connect_cpu_per_conn", ("connect", "server_cpu_ms_per_conn")),
        ("latency_p99", ("steady", "latency_ms", "p99")),
    ):
        ours, theirs = _get(servers, "livedash", *path), _get(servers, "node", *path)
        out[key] = round(ours / theirs, 3) if ours is not None and theirs else None
    ours = _get(servers, "livedash-heavy", "steady", "server_cpu_us_per_delivery")
    theirs = _get(servers, "node-heavy", "steady", "server_cpu_us_per_delivery")
    out["heavy_cpu_per_delivery"] = round(ours / theirs, 3) if ours is not None and theirs else None
    return out


def checks(results: dict[str, Any]) -> list[Check]:
    """Every fan-out target that this run measured, with its verdict."""
    ld = results["servers"].get("livedash", {})
    node = results["servers"].get("node", {})
    ratio = ratios(results)
    out: list[Check] = []
    if "livedash" in results["servers"]:
        steady = ld.get("steady", {})
        cpu = steady.get("server_cpu_us_per_delivery")
        out.append(_ceiling("server CPU per delivery", cpu, 2, "µs", CPU_PER_DELIVERY_US))
        if "node" in results["servers"]:
            out.append(_ceiling("  ... livedash / node:http", ratio["cpu_per_delivery"], 2, "x", CPU_VS_NODE))
        p99 = _get(steady, "latency_ms", "p99")
        out.append(_ceiling("p99 ingest → client read", p99, 1, "ms", P99_MS))
        lost, extra = steady.get("lost"), steady.get("extra")
        out.append(
            Check(
                "lost / extra (steady)",
                f"{_num(lost)} / {_num(extra)}",
                "0 / 0",
                None if lost is None else lost == extra == 0,
            )
        )
        rss = _get(ld, "connect", "rss_kib_per_conn")
        out.append(_ceiling("RSS per idle connection", rss, 2, "KiB", RSS_PER_CONN_KIB))
        conn = _get(ld, "connect", "server_cpu_ms_per_conn")
        out.append(_ceiling("server CPU per connect", conn, 3, "ms", CONNECT_CPU_MS))
        page_p50 = _get(ld, "page", "wall_ms", "p50")
        out.append(_ceiling("first page p50 (24 cards, 50 items)", page_p50, 2, "ms", PAGE_P50_MS))
        rate, errors = _get(ld, "ingest", "points_per_s"), _get(ld, "ingest", "errors")
        ok = None if rate is None else bool(rate >= INGEST_POINTS_PER_S and not errors)
        out.append(
            Check(
                "ingest points/s (batches of 100)",
                f"{_num(rate)} ({_num(errors)} errors)",
                f"≥ {INGEST_POINTS_PER_S:,}, 0 errors",
                ok,
            )
        )
        slow = ld.get("slow", {})
        r = slow.get("fast_p99_ratio")
        out.append(_ceiling("stalled 10 %: others' p99 / all-fast", r, 2, "x", SLOW_P99_RATIO))
        out.append(_none("stalled 10 %: others lost", _get(slow, "fast", "lost")))
        growth, bound = slow.get("rss_growth_kib"), slow.get("rss_bound_kib")
        out.append(
            Check(
                "stalled 10 %: server RSS growth",
                _num(growth, 0, "KiB"),
                f"≤ {_num(bound, 0, 'KiB')}",
                None if growth is None or bound is None else bool(growth <= bound),
            )
        )
        owed, regressions = slow.get("owed_lost"), slow.get("regressions")
        ok = None if owed is None else owed == regressions == slow.get("duplicates") == 0
        out.append(
            Check(
                "stalled 10 %: owed values lost", f"{_num(owed)} ({_num(regressions)} regressions)", "0", ok
            )
        )
    heavy = results["servers"].get("livedash-heavy")
    if heavy is not None:
        steady = heavy.get("steady", {})
        cpu = steady.get("server_cpu_us_per_delivery")
        out.append(_ceiling("heavy board: CPU per delivered event", cpu, 2, "µs", HEAVY_CPU_PER_DELIVERY_US))
        if "node-heavy" in results["servers"]:
            out.append(
                _ceiling(
                    "  ... livedash / node:http", ratio["heavy_cpu_per_delivery"], 2, "x", HEAVY_CPU_VS_NODE
                )
            )
        p99 = _get(steady, "latency_ms", "p99")
        out.append(_ceiling("heavy board: p99 ingest → client read", p99, 1, "ms", HEAVY_P99_MS))
        out.append(_none("heavy board: lost", steady.get("lost")))
    if "node" in results["servers"]:
        out.append(_none("node:http lost (sanity of the reference)", _get(node, "steady", "lost")))
    redis = results["servers"].get("livedash-redis")
    if redis is not None:
        out.append(_none("redis backend: lost", _get(redis, "steady", "lost")))
        ours = _get(redis, "steady", "server_cpu_us_per_delivery")
        embedded = _get(ld, "steady", "server_cpu_us_per_delivery")
        ratio_redis = round(ours / embedded, 3) if ours is not None and embedded else None
        out.append(_ceiling("redis: CPU per delivery / embedded", ratio_redis, 2, "x", REDIS_CPU_VS_EMBEDDED))
    return out


def _row(label: str, *cells: str) -> str:
    return f"  {label:<38}" + "".join(f"{cell:>22}" for cell in cells)


def _latency(figures: dict[str, Any] | None) -> str:
    lat = _get(figures or {}, "latency_ms")
    if not lat or lat.get("p50") is None:
        return "-"
    return f"{lat['p50']:.1f} / {lat['p99']:.1f} / {lat['max']:.0f} ms"


def _headline(results: dict[str, Any]) -> list[str]:
    opts, meta = results["meta"]["options"], results["meta"]
    ld, node = results["servers"].get("livedash", {}), results["servers"].get("node", {})
    ratio = ratios(results)
    lines = [
        f"livedash fan-out benchmark{' (smoke)' if opts['smoke'] else ''}: {opts['clients']:,} SSE clients,"
        f" {opts['rate']:g} events/s for {opts['seconds']:g} s, one POST per event",
        f"  {meta['cpus']} CPUs, load average {meta['loadavg_at_start'][0]:.2f} at start;"
        f" python {meta['python']}, node {meta['node']}",
        "",
        _row("", "livedash", "node:http", "livedash/node"),
    ]

    def both(label: str, path: tuple[str, ...], digits: int, unit: str, key: str = "") -> None:
        a, b = _get(ld, *path), _get(node, *path)
        lines.append(
            _row(label, _num(a, digits, unit), _num(b, digits, unit), _num(ratio.get(key), 2) if key else "")
        )

    def losses(figures: dict[str, Any]) -> str:
        steady = figures.get("steady")
        if not steady:
            return "-"
        return f"{_num(steady['lost'])} / {_num(steady['extra'])} / {_num(steady['expected_deliveries'])}"

    both(
        "connect: server CPU per connection",
        ("connect", "server_cpu_ms_per_conn"),
        3,
        "ms",
        "connect_cpu_per_conn",
    )
    both("idle RSS per connection", ("connect", "rss_kib_per_conn"), 2, "KiB", "rss_per_conn")
    both("connect: wall time", ("connect", "seconds"), 1, "s")
    both("steady: deliveries/s", ("steady", "deliveries_per_s"), 0, "")
    both("server CPU per delivery", ("steady", "server_cpu_us_per_delivery"), 2, "µs", "cpu_per_delivery")
    both("  of which in the kernel", ("steady", "server_kernel_us_per_delivery"), 2, "µs")
    both("server CPU, % of one core", ("steady", "server_cpu_pct"), 0, "%")
    lines.append(_row("latency p50 / p99 / max", _latency(ld.get("steady")), _latency(node.get("steady"))))
    lines.append(_row("lost / extra / expected deliveries", losses(ld), losses(node)))
    both("heartbeat deliveries (in the window)", ("steady", "heartbeat_deliveries"), 0, "")
    both("load client CPU, % of one core", ("steady", "loadgen_cpu_pct"), 0, "%")
    both("load client CPU per delivery", ("steady", "loadgen_cpu_us_per_delivery"), 2, "µs")
    both("other processes, % of the machine", ("steady", "others_pct_of_machine"), 0, "%")
    lines += [f"  {name}: ERROR {f['error']}" for name, f in results["servers"].items() if "error" in f]
    return lines


def _slow(slow: dict[str, Any], opts: dict[str, Any]) -> list[str]:
    fast = slow["fast"]
    return [
        "",
        f"livedash, {slow['stalled']:,} of {opts['clients']:,} clients stalled"
        f" (SO_RCVBUF 4096, not reading) for {opts['slow_seconds']:g} s:",
        f"  the others: latency {_latency(fast)}, p99 {_num(slow['fast_p99_ratio'], 2)} x the all-fast run,"
        f" lost {fast['lost']}, extra {fast['extra']}",
        f"  server CPU {_num(fast['server_cpu_us_per_delivery'], 2)} µs/delivery;"
        f" RSS growth {_num(slow['rss_growth_kib'], 0)} KiB"
        f" ({_num(slow['rss_growth_kib_per_stalled'], 1)} KiB per stalled client,"
        f" bound {_num(slow['rss_bound_kib'], 0)} KiB)",
        f"  {slow['readers']} read again: {slow['caught_up_in_place']} caught up in place"
        f" ({slow['caught_up_every_event']} with every event, {slow['caught_up_conflated']} conflated)",
        f"  {slow['holdouts']} stayed stalled through {slow['burst_items']} activity items"
        f" (~{slow['burst_kib_per_client']} KiB each, never conflated): {slow['dropped_holdouts']} dropped",
        f"  dropped by the server in all: {slow['dropped_by_server']}; resumed with Last-Event-ID and owed"
        f" nothing after: {slow['resumed_ok']} ({slow['resumed_every_event']} got every missed event)",
        f"  clients missing an owed value: {slow['owed_lost']}; duplicates {slow['duplicates']};"
        f" card values going backwards {slow['regressions']}",
    ]


def _page_and_ingest(ld: dict[str, Any]) -> list[str]:
    lines = []
    if pg := ld.get("page"):
        lines += [
            "",
            f"livedash GET / ({pg['cards']} cards, {pg['feed_items']} feed items, {pg['bytes']:,} bytes),"
            f" {pg['requests']} sequential requests:",
            f"  wall p50 {_num(pg['wall_ms']['p50'], 2)} ms, p99 {_num(pg['wall_ms']['p99'], 2)} ms;"
            f" server CPU {_num(pg['server_cpu_ms_per_request'], 2)} ms/request",
        ]
    if ing := ld.get("ingest"):
        lines += [
            f"livedash ingest: {_num(ing['points_per_s'])} points/s accepted"
            f" ({ing['connections']} connections, batches of {ing['batch']}, {ing['seconds']:.1f} s)",
            f"  statuses {ing['statuses']}; server CPU {_num(ing['server_cpu_us_per_point'], 1)} µs/point",
        ]
    return lines


def _redis(redis: dict[str, Any], memory: dict[str, Any]) -> list[str]:
    steady = redis["steady"]
    base = _get(memory, "steady", "latency_ms") or {}
    lat = steady["latency_ms"]
    added = "-"
    if lat.get("p50") is not None and base.get("p50") is not None:
        added = f"{lat['p50'] - base['p50']:+.1f} ms at p50, {lat['p99'] - base['p99']:+.1f} ms at p99"
    lines = [
        "",
        "livedash, Redis backend (2 processes, clients split, published through the first):",
        f"  {_num(steady['deliveries_per_s'])} deliveries/s, latency {_latency(steady)},"
        f" lost {steady['lost']}",
        f"  the Redis hop adds {added} over the embedded backend",
        f"  server CPU {_num(steady['server_cpu_us_per_delivery'], 2)} µs/delivery (both processes),"
        f" redis-server {steady['redis_cpu_s']} s CPU",
    ]
    suffix = "_latency_ms"
    for key, value in steady.items():
        if key.endswith(suffix):
            name = key[: -len(suffix)]
            lines.append(
                f"  {name}: latency {_latency({'latency_ms': value})}, lost {steady[name + '_lost']}"
            )
    return lines


def _heavy(results: dict[str, Any]) -> list[str]:
    """The heavy board, livedash beside the naive node:http reference, measured alike."""
    ld, node = results["servers"].get("livedash-heavy", {}), results["servers"].get("node-heavy", {})
    opts = results["meta"]["options"]
    lines = [
        "",
        f"heavy board: {opts['heavy_clients']:,} clients, {opts['heavy_cards']} cards,"
        f" {opts['heavy_rate']:g} events/s in all for {opts['heavy_seconds']:g} s, throttle off",
        _row("", "livedash", "node:http", "livedash/node"),
    ]

    def both(label: str, path: tuple[str, ...], digits: int, unit: str) -> None:
        a, b = _get(ld, *path), _get(node, *path)
        ratio = round(a / b, 3) if a is not None and b else None
        lines.append(_row(label, _num(a, digits, unit), _num(b, digits, unit), _num(ratio, 2)))

    both("deliveries/s", ("steady", "deliveries_per_s"), 0, "")
    both("writes/s", ("steady", "writes_per_s"), 0, "")
    both("server CPU per delivered event", ("steady", "server_cpu_us_per_delivery"), 2, "µs")
    both("  of which in the kernel", ("steady", "server_kernel_us_per_delivery"), 2, "µs")
    both("server CPU, % of one core", ("steady", "server_cpu_pct"), 0, "%")
    lines.append(_row("latency p50 / p99 / max", _latency(ld.get("steady")), _latency(node.get("steady"))))
    both("lost", ("steady", "lost"), 0, "")
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    """Say when a window's figures measure the machine rather than the server."""
    notes = []
    for name, figures in results["servers"].items():
        steady = figures.get("steady") or {}
        others, p50 = steady.get("others_pct_of_machine"), _get(steady, "latency_ms", "p50")
        if others is not None and others >= 10:
            notes.append(
                f"{name}: other processes used {others:.0f} % of the machine during the steady window"
            )
        if p50 is not None and p50 > 1000:
            notes.append(
                f"{name}: a backlog formed (p50 {p50 / 1000:.1f} s): server, load client and others needed"
                " more CPU than the machine has, so latency measures queueing, not the fan-out alone"
            )
    return ["", "notes:", *(f"  {note}" for note in notes)] if notes else []


def table(results: dict[str, Any]) -> str:
    """The whole run as text: headline comparison, the livedash-only phases, the targets."""
    servers = results["servers"]
    ld = servers.get("livedash", {})
    lines = _headline(results)
    if slow := ld.get("slow"):
        lines += _slow(slow, results["meta"]["options"])
    lines += _page_and_ingest(ld)
    if "livedash-heavy" in servers or "node-heavy" in servers:
        lines += _heavy(results)
    redis = servers.get("livedash-redis", {})
    if "steady" in redis:
        lines += _redis(redis, ld)
    lines += _notes(results)
    problems = {name: f["log_problems"] for name, f in servers.items() if f.get("log_problems")}
    if problems:
        lines += ["", "server log warnings and errors (count, message):"]
        for name, counts in problems.items():
            lines += [f"  {name}: {n} x {message}" for message, n in list(counts.items())[:6]]
    lines += ["", "fan-out targets:"]
    for check in checks(results):
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[check.ok]
        lines.append(f"  {verdict}  {check.figure:<40}{check.value:>22}   target {check.target}")
    return "\n".join(lines)


def as_json(results: dict[str, Any]) -> dict[str, Any]:
    """The results with the ratios and verdicts added, as written to bench/results/."""
    return {**results, "ratios": ratios(results), "targets": [asdict(c) for c in checks(results)]}

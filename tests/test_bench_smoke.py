"""The benchmark (bench/) runs end to end and proves delivery, so it cannot rot unnoticed.

Correctness and the presence of every figure only: the performance targets belong to
`make bench` on a quiet machine, not to a test on a busy one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.loadgen import Stream

ROOT = Path(__file__).resolve().parents[1]

# Every target a run of livedash and node:http (no Redis) measures, in the table's order.
TARGETS = [
    "server CPU per delivery",
    "livedash / node:http",
    "p99 ingest → client read",
    "lost / extra (steady)",
    "RSS per idle connection",
    "server CPU per connect",
    "first page p50 (24 cards, 50 items)",
    "ingest points/s (batches of 100)",
    "stalled 10 %: others' p99 / all-fast",
    "stalled 10 %: others lost",
    "stalled 10 %: server RSS growth",
    "stalled 10 %: owed values lost",
    "heavy board: CPU per delivered event",
    "livedash / node:http",
    "heavy board: p99 ingest → client read",
    "heavy board: lost",
    "node:http lost (sanity of the reference)",
]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _card_frame(name: str, value: int, event: str | None = None) -> bytes:
    return (
        f"event: {event or 'metric-' + name}\nid: 7-{value}\n"
        f'data: <article id="metric-{name}" class="card">\n'
        f'data:   <p class="card__value" data-value="{value}">{value}</p>\n'
        "data: </article>\n\n"
    ).encode()


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def test_load_client_parses_a_stream_cut_anywhere() -> None:
    """Reads split at every offset (and a second cut further on) give the same accounting."""
    snapshot = (
        b"event: snapshot\nid: 7-0\ndata: <div>\n"
        b'data: <article id="metric-a" class="card"><p data-value="0">0</p></article>\n'
        b'data: <article id="metric-b" class="card"><p data-value="0">0</p></article>\n\n'
    )
    stream = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunk(b": livedash\nretry: 2000\n\n" + snapshot)
        + _chunk(_card_frame("a", 1))
        + _chunk(_card_frame("b", 2) + _card_frame("a", 3))  # two frames in one write
        + _chunk(b"event: heartbeat\nid: 7-3\ndata: 1.0\n\n")
        + _chunk(_card_frame("c", 4, "new-metric"))
        + b"0\r\n\r\n"
    )
    for tracked in (False, True):
        for cut in range(1, len(stream)):
            for second in (cut, cut + 7, cut + 300):
                client = Stream(0, "/dashboard/stream", "127.0.0.1", None, small_rcvbuf=False)
                client.connection_made(_Transport())  # type: ignore[arg-type]
                client.expect(1, tracked=tracked)
                for part in (stream[:cut], stream[cut:second], stream[second:]):
                    if part:
                        client.data_received(part)
                seen = (client.got, client.extra, client.skipped, client.heartbeats, client.snapshots)
                assert seen == (4, 0, 0, 1, 1), (cut, second)
                assert client.ended and not client.malformed and client.last_id == "7-4"
                if tracked:
                    assert client.cards == {b"a": 3, b"b": 2, b"c": 4}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_smoke_run_reports_every_figure_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(out.read_text())
    options = data["meta"]["options"]
    events = round(options["rate"] * options["seconds"])
    servers = data["servers"]
    assert set(servers) == {"livedash", "node", "livedash-heavy", "node-heavy"}, run.stdout
    for name, figures in servers.items():
        if name.endswith("-heavy"):
            continue
        assert "error" not in figures, (name, figures.get("error"))
        connect, steady = figures["connect"], figures["steady"]
        assert connect["connected"] == options["clients"], name
        assert _number(connect["server_cpu_ms_per_conn"]) and _number(connect["rss_kib_per_conn"]), name
        assert steady["lost"] == steady["extra"] == steady["malformed"] == 0, (name, steady)
        assert steady["deliveries"] == steady["expected_deliveries"] == options["clients"] * events, name
        assert all(_number(steady["latency_ms"][k]) for k in ("p50", "p99", "max")), name
        for key in ("deliveries_per_s", "server_cpu_us_per_delivery", "loadgen_cpu_pct"):
            assert _number(steady[key]), (name, key)
        assert figures["closed_all"], name

    livedash = servers["livedash"]
    slow = livedash["slow"]
    assert slow["stalled"] == options["clients"] // 10
    assert slow["fast"]["lost"] == slow["fast"]["extra"] == 0
    assert slow["owed_lost"] == slow["regressions"] == 0
    assert slow["caught_up_in_place"] + slow["resumed_ok"] == slow["stalled"]
    assert _number(slow["fast_p99_ratio"]) and _number(slow["rss_growth_kib"])

    page = livedash["page"]
    assert (page["cards"], page["feed_items"], page["errors"]) == (24, 50, 0)
    assert _number(page["wall_ms"]["p50"]) and _number(page["server_cpu_ms_per_request"])

    ingest = livedash["ingest"]
    assert ingest["errors"] == 0 and ingest["points_per_s"] > 0
    assert _number(ingest["server_cpu_us_per_point"])

    heavy_events = round(options["heavy_rate"] * options["heavy_seconds"])
    for name in ("livedash-heavy", "node-heavy"):
        figures = servers[name]
        assert "error" not in figures, (name, figures.get("error"))
        steady = figures["steady"]
        assert figures["connect"]["connected"] == options["heavy_clients"], name
        assert steady["lost"] == steady["extra"] == steady["malformed"] == 0, (name, steady)
        assert steady["deliveries"] == options["heavy_clients"] * heavy_events, name
        assert _number(steady["writes_per_s"]) and _number(steady["server_cpu_us_per_delivery"]), name
    # node:http writes every event to every client; livedash at most LIVEDASH_FLUSH_HZ (10) times a second.
    heavy = servers["livedash-heavy"]["steady"]
    assert heavy["writes_per_s"] < servers["node-heavy"]["steady"]["writes_per_s"]

    assert set(data["ratios"]) == {
        "cpu_per_delivery",
        "rss_per_conn",
        "connect_cpu_per_conn",
        "latency_p99",
        "heavy_cpu_per_delivery",
    }
    assert _number(data["ratios"]["cpu_per_delivery"]), data["ratios"]
    assert [check["figure"].strip(". ") for check in data["targets"]] == TARGETS
    assert [check["figure"] for check in data["targets"] if check["ok"] is None] == [], data["targets"]
    assert "fan-out targets:" in run.stdout


def test_the_render_benchmarks_render_the_pages_as_the_routes_do() -> None:
    """bench.page_render and bench.detail_render render from the routes' own page context, so
    a template that needs something new cannot leave them behind (timings belong to a quiet
    machine; here only that they run to their verdict)."""
    for module, figure in (
        ("bench.page_render", "page render: p50 "),
        ("bench.detail_render", "detail render: p50 "),
    ):
        run = subprocess.run(
            [sys.executable, "-m", module, "--renders", "5"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        lines = run.stdout.splitlines()
        assert lines[-2].startswith(figure), run.stdout
        assert lines[-1] in ("PASS", "FAIL"), run.stdout

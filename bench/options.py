"""Command-line options: the full run by default, `--smoke` for the small one `make test` runs."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SERVERS = ("livedash", "node")


@dataclass(frozen=True)
class Options:
    """How big a run is and what it covers."""

    clients: int
    rate: float
    seconds: float
    slow_seconds: float
    page_requests: int
    ingest_seconds: float
    drain_seconds: float
    backend: str
    only: tuple[str, ...]
    smoke: bool
    json_path: Path | None

    @property
    def names(self) -> list[str]:
        """Metric names the paced events rotate over: at least 20, and each at most once a
        second, so livedash's per-card throttle (4/s) never holds one back."""
        return [f"bench-{i}" for i in range(max(20, math.ceil(self.rate)))]

    @property
    def events(self) -> int:
        """Events one publishing phase sends."""
        return round(self.rate * self.seconds)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["json_path"] = str(self.json_path) if self.json_path else None
        data["only"] = list(self.only)
        return data


FULL = {"clients": 10_000, "rate": 10.0, "seconds": 20.0, "page_requests": 300, "ingest_seconds": 5.0}
SMOKE = {"clients": 200, "rate": 20.0, "seconds": 2.0, "page_requests": 50, "ingest_seconds": 1.0}


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Fan-out benchmark: livedash against a node:http reference broadcaster, on loopback.",
    )
    parser.add_argument("--clients", type=int, help="SSE clients (full run: 10000, smoke: 200)")
    parser.add_argument("--rate", type=float, help="events per second, one POST each (full: 10, smoke: 20)")
    parser.add_argument("--seconds", type=float, help="length of the steady window (full: 20, smoke: 2)")
    parser.add_argument(
        "--slow-seconds", type=float, help="length of the slow-consumer window (default: --seconds)"
    )
    parser.add_argument("--page-requests", type=int, help="timed GET / requests (full: 300, smoke: 50)")
    parser.add_argument("--ingest-seconds", type=float, help="length of the ingest flood (full: 5, smoke: 1)")
    parser.add_argument("--smoke", action="store_true", help="a small, fast run that checks correctness")
    parser.add_argument(
        "--backend",
        choices=("memory", "redis"),
        default="memory",
        help="redis: also run two livedash processes sharing a private Redis and compare",
    )
    parser.add_argument("--only", choices=SERVERS, help="measure one server only")
    parser.add_argument(
        "--json", type=Path, dest="json_path", help="where to write the results (default bench/results/)"
    )
    args = parser.parse_args(argv)
    profile = SMOKE if args.smoke else FULL
    pick = {
        key: getattr(args, key) if getattr(args, key) is not None else default
        for key, default in profile.items()
    }
    if pick["clients"] < 1 or pick["rate"] <= 0 or pick["seconds"] <= 0:
        parser.error("--clients, --rate and --seconds must be positive")
    if pick["rate"] > 400:
        parser.error("--rate: at most 400 (one metric name per event a second; livedash keeps 500 names)")
    return Options(
        clients=int(pick["clients"]),
        rate=float(pick["rate"]),
        seconds=float(pick["seconds"]),
        slow_seconds=float(args.slow_seconds if args.slow_seconds is not None else pick["seconds"]),
        page_requests=int(pick["page_requests"]),
        ingest_seconds=float(pick["ingest_seconds"]),
        drain_seconds=5.0 if args.smoke else 10.0,
        backend=args.backend,
        only=(args.only,) if args.only else SERVERS,
        smoke=args.smoke,
        json_path=args.json_path,
    )

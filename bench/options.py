"""Command-line options: the full run by default, `--smoke` for the small one `make test` runs."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, replace
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
    heavy_on: bool = True
    """Run the heavy-board phase too."""
    heavy_clients: int = 1000
    heavy_cards: int = 50
    heavy_rate: float = 200.0
    heavy_seconds: float = 10.0
    flush_hz: float | None = None
    """LIVEDASH_FLUSH_HZ for livedash's servers; None: the app's default."""
    cards: int | None = None
    """How many cards the events rotate over; None: one per event a second (at least 20)."""

    @property
    def names(self) -> list[str]:
        """Metric names the paced events rotate over: by default at least 20, and each at most
        once a second, so livedash's per-card throttle (4/s) never holds one back."""
        count = self.cards if self.cards is not None else max(20, math.ceil(self.rate))
        return [f"bench-{i}" for i in range(count)]

    def livedash_env(self) -> dict[str, str]:
        """Settings every livedash server of this run gets."""
        return {} if self.flush_hz is None else {"LIVEDASH_FLUSH_HZ": f"{self.flush_hz:g}"}

    def heavy(self) -> Options:
        """The heavy board: many cards changing at once (the throttle is off for it)."""
        return replace(
            self,
            clients=self.heavy_clients,
            rate=self.heavy_rate,
            seconds=self.heavy_seconds,
            cards=self.heavy_cards,
        )

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
# The heavy board: 50 cards changing 4 times a second each (200 events/s in all), throttle off.
HEAVY_FULL = {"heavy_clients": 1000, "heavy_cards": 50, "heavy_rate": 200.0, "heavy_seconds": 10.0}
HEAVY_SMOKE = {"heavy_clients": 100, "heavy_cards": 20, "heavy_rate": 100.0, "heavy_seconds": 2.0}


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
        "--flush-hz", type=float, help="LIVEDASH_FLUSH_HZ for livedash (default: the app's, 10; 0: off)"
    )
    parser.add_argument(
        "--no-heavy",
        action="store_true",
        help="skip the heavy-board phase (1,000 clients, 50 cards, 200 events/s)",
    )
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
    heavy = HEAVY_SMOKE if args.smoke else HEAVY_FULL
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
        heavy_on=not args.no_heavy,
        flush_hz=args.flush_hz,
        heavy_clients=int(heavy["heavy_clients"]),
        heavy_cards=int(heavy["heavy_cards"]),
        heavy_rate=float(heavy["heavy_rate"]),
        heavy_seconds=float(heavy["heavy_seconds"]),
    )

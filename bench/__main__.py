"""`python -m bench`: run, print the table, write the JSON (see bench/options.py for flags)."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import uvloop

from bench import options, report, runner

RESULTS = Path(__file__).resolve().parent / "results"


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C, so the servers we started are stopped on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    opts = options.parse(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = opts.json_path or RESULTS / f"{stamp}.json"
    log_dir = out.parent / f"{out.stem}-logs"  # server logs, beside the figures they explain
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    results = uvloop.run(runner.run(opts, log_dir))
    results["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    data = report.as_json(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(report.table(results))
    print(f"\nwall time {results['meta']['wall_s']} s; results in {out}; server logs in {log_dir}")
    return 1 if any("error" in figures for figures in results["servers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

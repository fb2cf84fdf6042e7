"""What a PaaS and a new clone rely on: the Procfile, start-up checks, no registry addresses.

test_requirements.py checks the pinned requirements against pyproject.toml.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_procfile_serves_on_port_on_every_interface_behind_a_proxy() -> None:
    # `python -m app` checks the settings before uvicorn starts any worker.
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert lines == ["web: HOST=0.0.0.0 FORWARDED_ALLOW_IPS='*' python -m app"]
    command = lines[0].removeprefix("web: ")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDASH_")}
    env.update(
        PORT=str(port),
        LIVEDASH_DB_PATH="",
        LIVEDASH_DEMO="0",
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
    )
    process = subprocess.Popen(
        ["sh", "-c", command], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # as a PaaS stops a dyno: the whole process group
        _, err = process.communicate(timeout=10)
    assert f"serving on http://0.0.0.0:{port}" in err


def test_several_workers_without_redis_refuse_to_start_naming_the_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDASH_") and k != "REDIS_URL"}
    env.update(WEB_CONCURRENCY="3", LIVEDASH_DB_PATH="")
    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "WEB_CONCURRENCY=3" in done.stderr and "LIVEDASH_REDIS_URL" in done.stderr


# Tests of the requirements check, which name the options it refuses (with made-up hosts).
SPELLS_OUT_THE_OPTIONS = {"tests/test_requirements.py"}


def test_no_tracked_file_records_a_package_registry_address() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r'"resolved": *"https?://|--(extra-)?index-url|(index-url|trusted-host) *=')
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix in {".png", ".js"} or not path.is_file() or name in SPELLS_OUT_THE_OPTIONS:
            continue
        assert not pattern.search(path.read_text(errors="replace")), name
    assert "uv.lock" not in tracked.split()


def test_a_wrong_dashboard_file_stops_python_m_app_with_one_line_naming_key_and_card(tmp_path: Path) -> None:
    board = tmp_path / "board.toml"
    board.write_text("[cards.p95_latency_ms]\nwarn = 900\ncrit = 800\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDASH_") and k != "REDIS_URL"}
    env.update(LIVEDASH_CONFIG=str(board), LIVEDASH_DB_PATH="")
    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == f'livedash: {board}: cards.p95_latency_ms.warn: 900 is above crit 800, but bad = "high"\n'
    )

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


PROCFILE = "web: HOST=0.0.0.0 FORWARDED_ALLOW_IPS='*' python -m app"


def procfile_env(port: int, **extra: str) -> dict[str, str]:
    """A dyno's environment: the PaaS's PORT, no LIVEDASH_* but what the test gives, no Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIVEDASH_")
        and k not in ("REDIS_URL", "WEB_CONCURRENCY", "WEB_CONCURRENCY_SET_BY")
    }
    env.update(
        PORT=str(port),
        LIVEDASH_DB_PATH="",
        LIVEDASH_DEMO="0",
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        **extra,
    )
    return env


def test_procfile_is_the_one_line_a_paas_runs() -> None:
    assert (ROOT / "Procfile").read_text().splitlines() == [PROCFILE]


def test_procfile_with_a_platform_set_web_concurrency_of_4_and_no_redis_comes_up_with_one_worker() -> None:
    """Heroku's buildpack sets WEB_CONCURRENCY at dyno boot; a plain `git push` must come up."""
    command = PROCFILE.removeprefix("web: ")
    port = free_port()
    env = procfile_env(port, WEB_CONCURRENCY="4", LIVEDASH_VIEWER_PASSWORD="correct horse")
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
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert (page.status_code, page.headers["location"]) == (303, "/login")
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # as a PaaS stops a dyno: the whole process group
        _, err = process.communicate(timeout=10)
    lines = [line for line in err.splitlines() if line.startswith("livedash: ")]
    assert lines == [
        "livedash: WEB_CONCURRENCY=4: running one worker, as several need a shared hub;"
        " set LIVEDASH_REDIS_URL (or REDIS_URL) to use them",
        f"livedash: serving on http://0.0.0.0:{port}",
    ]


def test_procfile_with_nothing_protecting_the_board_refuses_to_start_naming_the_three_ways() -> None:
    done = subprocess.run(
        ["sh", "-c", PROCFILE.removeprefix("web: ")],
        cwd=ROOT,
        env=procfile_env(free_port()),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "livedash: HOST=0.0.0.0 is reachable from other machines and nothing protects the board:"
        " set LIVEDASH_VIEWER_PASSWORD, LIVEDASH_TRUSTED_USER_HEADER (behind an SSO proxy),"
        " or LIVEDASH_PUBLIC=1 to serve it to anyone\n"
    )


def test_procfile_with_livedash_public_serves_the_board_to_anyone() -> None:
    port = free_port()
    process = subprocess.Popen(
        ["sh", "-c", PROCFILE.removeprefix("web: ")],
        cwd=ROOT,
        env=procfile_env(port, LIVEDASH_PUBLIC="1"),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert page.status_code == 200
        assert 'sse-connect="/dashboard/stream?lastEventId=' in page.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=10)


def test_asking_livedash_for_several_workers_without_redis_refuses_to_start_naming_the_setting() -> None:
    env = procfile_env(free_port(), LIVEDASH_WEB_CONCURRENCY="3")
    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr == (
        "livedash: LIVEDASH_WEB_CONCURRENCY=3: several workers need a shared hub;"
        " set LIVEDASH_REDIS_URL (or REDIS_URL), or run one worker\n"
    )


def test_no_tracked_file_records_a_package_registry_address() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r'"resolved": *"https?://|--(extra-)?index-url|(index-url|trusted-host) *=')
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix in {".png", ".js"} or not path.is_file():
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

"""The processes under test: livedash under uvicorn, the node:http reference, a private Redis.

Each runs in its own session (a Ctrl-C in the terminal reaches only the benchmark, which then
stops them in order) and is told to die with the benchmark should it be killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procstat

ROOT = Path(__file__).resolve().parent.parent
BROADCASTER = Path(__file__).resolve().parent / "reference" / "broadcaster.js"
HEARTBEAT_SECONDS = 15
_PR_SET_PDEATHSIG = 1
_PLAIN_SETTINGS = {"HOST", "PORT", "REDIS_URL", "WEB_CONCURRENCY"}


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _child_setup() -> None:
    # Runs in the child between fork and exec: 10,000 streams need the open-files limit
    # lifted, and a server must not outlive a benchmark that was killed with SIGKILL.
    procstat.raise_nofile_limit()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    """One started process and where to reach it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    stream_path: str = "/dashboard/stream"
    publish_path: str = "/api/metrics"
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def cpu_split(self) -> tuple[float, float]:
        return procstat.cpu_split(self.pid)

    def rss(self) -> int:
        return procstat.rss_kib(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def log_problems(self) -> dict[str, int]:
        """Warnings and errors the server logged, counted by message (numbers masked)."""
        counts: dict[str, int] = {}
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return counts
        for line in text.splitlines():
            if re.match(r"(WARNING|ERROR|CRITICAL)\b", line) or "Traceback" in line:
                key = re.sub(r"\d+", "N", line.strip())[:160]
                counts[key] = counts.get(key, 0) + 1
        return counts


def _spawn(name: str, command: Sequence[str], env: dict[str, str], log_dir: Path, port: int) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup,  # limits and the parent-death signal only
            start_new_session=True,
        )
    return Server(name, port, process, log_path)


def start_livedash(name: str, log_dir: Path, token: str, extra_env: dict[str, str] | None = None) -> Server:
    """uvicorn as the Procfile runs it, on a free port, with the demo source off."""
    port = free_port()
    # Only what we set: the app also reads the PaaS's plain REDIS_URL, WEB_CONCURRENCY, PORT.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDASH_") and k not in _PLAIN_SETTINGS}
    env.update(
        LIVEDASH_DEMO="0",
        LIVEDASH_INGEST_TOKEN=token,
        LIVEDASH_DB_PATH="",
        LIVEDASH_CONFIG="",  # the cards the bench makes, not the demo's dashboard.toml
        LIVEDASH_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        # Every simulated client comes from this one address, and the rate is the benchmark's.
        LIVEDASH_MAX_STREAMS_PER_IP="1000000",
        LIVEDASH_MAX_STREAMS="1000000",
        LIVEDASH_INGEST_RATE="0",
        **(extra_env or {}),
    )
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
        *("--no-access-log", "--timeout-graceful-shutdown", "5"),
    ]
    server = _spawn(name, command, env, log_dir, port)
    server.token = token
    return server


def start_node(log_dir: Path, name: str = "node") -> Server:
    """The reference broadcaster: plain node:http, a Set of clients."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: the reference broadcaster needs Node.js (v18 or later)")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    server = _spawn(name, [node, str(BROADCASTER)], env, log_dir, port)
    server.stream_path = "/stream"
    server.publish_path = "/publish"
    return server


def start_redis(log_dir: Path) -> Server:
    """A private redis-server on a free port that keeps nothing on disk (never the shared 6379)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--daemonize", "no", "--dir", str(log_dir)]
    return _spawn("redis", command, dict(os.environ), log_dir, port)


async def wait_ready(server: Server, timeout: float = 30.0) -> None:
    """Poll until GET /healthz answers 200, and /readyz too where there is one (its hub works)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
        for path, also_fine in (("/healthz", ()), ("/readyz", (404,))):
            while not await _answers(http, server, path, also_fine):
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{server.name}: no 200 from {path} in {timeout:.0f} s:\n{server.log_tail()}"
                    )
                await asyncio.sleep(0.05)


async def _answers(http: httpx.AsyncClient, server: Server, path: str, also_fine: tuple[int, ...]) -> bool:
    if not server.alive():
        raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
    try:
        status = (await http.get(server.url + path)).status_code
    except httpx.TransportError:
        return False
    return status == 200 or status in also_fine


async def wait_redis(server: Server, timeout: float = 10.0) -> None:
    """Wait until the private Redis answers PING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"redis-server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"PING\r\n")
            line = await asyncio.wait_for(reader.readline(), 1.0)
            writer.close()
            if line.startswith(b"+PONG"):
                return
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING within {timeout:.0f} s")

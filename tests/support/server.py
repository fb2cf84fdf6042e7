"""A real livedash under uvicorn on a free loopback port, as a subprocess.

In-process test clients hang on an infinite SSE stream, and SIGTERM behaviour can only be
seen in a real process, so stream tests talk to one of these over real sockets.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Settings a test does not give are not inherited from the environment either: a developer's
# or a PaaS's REDIS_URL / WEB_CONCURRENCY must not turn an embedded-backend test into another.
INHERITED_NEVER = ("REDIS_URL", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS")


class LiveServer:
    """Start with `start()`, stop with `stop()`; `url` is http://127.0.0.1:<port>.

    Memory only unless the env gives `LIVEDASH_DB_PATH` (tests never write into the repo's
    data/ folder); `memory_only=False` leaves it unset, i.e. the app's default path, which is
    relative to `cwd` (give a temporary directory). `restart()` comes back on the same port.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        *,
        cwd: Path | None = None,
        memory_only: bool = True,
        preexec: Callable[[], None] | None = None,
        app_dir: Path | None = None,
    ) -> None:
        """`preexec` runs in the server's process before it starts (e.g. to lower its limits)."""
        self.preexec = preexec
        self.port = port or free_port()
        self.app_dir = app_dir
        """A copy of the checkout (app/, templates/, static/) to run instead of this one, for
        tests that edit templates or static files: the repository's own are never touched."""
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"LIVEDASH_DEMO": "0", **(env or {})}
        if memory_only:
            self.env.setdefault("LIVEDASH_DB_PATH", "")
        # No dashboard file unless the test gives one (the repository's is the demo's).
        self.env.setdefault("LIVEDASH_CONFIG", "")
        # Most tests count every metric event; the throttle has tests of its own that set it.
        self.env.setdefault("LIVEDASH_CARD_RATE", "0")
        # Tests ingest from this machine without a token, as `make run` lets a developer.
        self.env.setdefault("LIVEDASH_LOOPBACK_INGEST", "1")
        # Every test client shares 127.0.0.1; the per-client cap has tests of its own that set it.
        self.env.setdefault("LIVEDASH_MAX_STREAMS_PER_IP", "1000")
        # Tests ingest as fast as they can; the ingest rate limit has tests of its own.
        self.env.setdefault("LIVEDASH_INGEST_RATE", "0")
        self.cwd = cwd or ROOT
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = ROOT / "tests" / "artifacts" / f"server-{self.port}.log"
        self._starts = 0

    def start(self, timeout: float = 15.0) -> LiveServer:
        """Launch uvicorn and wait until /healthz answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("LIVEDASH_") and k not in INHERITED_NEVER
        }
        env.update(self.env)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--timeout-graceful-shutdown",
            "5",
            "--no-access-log",
            "--no-proxy-headers",  # as `python -m app`: livedash reads X-Forwarded-For itself
        ]
        if self.app_dir is not None:
            command += ["--app-dir", str(self.app_dir)]
        elif self.cwd != ROOT:
            command += ["--app-dir", str(ROOT)]
        mode = "ab" if self._starts else "wb"  # a restart keeps the earlier log
        self._starts += 1
        with open(self.log_path, mode) as log:
            self.process = subprocess.Popen(
                command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.preexec
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def terminate(self) -> None:
        """Send SIGTERM, as a PaaS does on every deploy."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its return code."""
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def restart(self, timeout: float = 15.0) -> LiveServer:
        """SIGTERM, wait for the exit, start again on the same port with the same settings."""
        self.stop()
        return self.start(timeout)

    def kill(self) -> None:
        """SIGKILL and wait: a crash, no shutdown code runs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(5)

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited, else None."""
        return None if self.process is None else self.process.poll()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def copy_checkout(into: Path) -> Path:
    """app/, templates/ and static/ copied into `into`, to serve with `app_dir=into`."""
    for folder in ("app", "templates", "static"):
        shutil.copytree(ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return into


class MakeServer:
    """The `make_server` fixture: servers of one test's own, not started, all stopped afterwards.

    Not started, so that a test can start one, restart or kill it, or watch it refuse to start;
    the fixture stops whatever is still running after the test, whatever the test did.
    """

    def __init__(self) -> None:
        self.made: list[LiveServer] = []

    def __call__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        cwd: Path | None = None,
        memory_only: bool = True,
        preexec: Callable[[], None] | None = None,
        app_dir: Path | None = None,
    ) -> LiveServer:
        live = LiveServer(
            env=env, port=port, cwd=cwd, memory_only=memory_only, preexec=preexec, app_dir=app_dir
        )
        self.made.append(live)
        return live

    def stop_all(self) -> None:
        """Stop every server made (those never started or already stopped are left as they are)."""
        for live in self.made:
            live.stop()

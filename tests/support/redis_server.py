"""A private `redis-server` on a free loopback port, as a subprocess, for the Redis hub tests.

Never the shared Redis on 6379: each test gets a server of its own, so it can stop it (an
outage) and start it again on the same port, and nothing leaks between tests.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.server import ROOT, free_port

SHARED_PORT = 6379


def redis_server_binary() -> str | None:
    """Path of `redis-server`, or None when it is not installed (`make test` installs it)."""
    found = shutil.which("redis-server")
    if found:
        return found
    debian = Path("/usr/bin/redis-server")
    return str(debian) if debian.exists() else None


class RedisServer:
    """`start()`, `stop()`, `start()` again on the same port; `url` is redis://127.0.0.1:<port>/0.

    No persistence is configured (`--save ""`, no AOF): `stop(keep_data=True)` asks for a
    `SAVE` first, so a restart finds the same streams and keys, as a managed Redis that comes
    back from an outage does. `stop(keep_data=False)` loses everything.
    """

    def __init__(self, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (make test installs Debian's package)")
        self.binary = binary
        self.port = port or _free_port_not_shared()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = Path(tempfile.mkdtemp(prefix=f"redis-{self.port}-"))
        self.log_path = ROOT / "tests" / "artifacts" / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Launch redis-server (on the same port as before, if it ran already) and wait for PING."""
        assert self.port != SHARED_PORT, "never touch the shared Redis"
        assert self.process is None or self.process.poll() is not None, "already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        mode = "ab" if self._starts else "wb"
        self._starts += 1
        with open(self.log_path, mode) as log:
            self.process = subprocess.Popen(command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.log()}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop(keep_data=False)
        raise RuntimeError(f"redis-server did not answer PING within {timeout}s:\n{self.log()}")

    def ping(self) -> bool:
        """Whether it answers PING right now."""
        try:
            with self.client(timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A synchronous client for checks (close it, or use it as a context manager)."""
        return redis.Redis.from_url(self.url, socket_timeout=timeout, socket_connect_timeout=timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, keep_data: bool = True, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL past `timeout`); with `keep_data`, SAVE first."""
        if not self.running:
            return
        assert self.process is not None
        if keep_data:
            with self.client() as client:
                client.save()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        """What redis-server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop for good and remove the data directory."""
        self.stop(keep_data=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _free_port_not_shared() -> int:
    while (port := free_port()) == SHARED_PORT:
        pass
    return port

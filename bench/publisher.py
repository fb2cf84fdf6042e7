"""The paced publisher: one metric point per POST, at a fixed rate, in a process of its own.

It runs apart from the load client so that reading 100,000 frames a second can never delay
a publish (which would hide latency). Each point's value is its sequence number, and the
publisher notes the time just before sending it; receivers note when they read the frame.
Both clocks are `time.monotonic()`, which is one clock for the whole machine on Linux, so
latency = receive - publish covers ingest, fan-out and the read.

Run as `python -m bench.publisher '<plan as JSON>'`: it connects, prints `ready`, waits
for a line on stdin, publishes, and prints its result as one JSON line. Only the standard
library, so it starts in a blink.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from typing import Any, TypedDict


class Plan(TypedDict):
    """What to publish: `count` points from sequence `base` on, `rate` a second."""

    port: int
    path: str
    token: str
    names: list[str]
    base: int
    count: int
    rate: float


class Published(TypedDict):
    """When each sequence was sent (index = sequence - base), and what went wrong."""

    sent_at: list[float]
    errors: list[str]
    late: int
    started: float
    finished: float


def name_of(names: list[str], seq: int) -> str:
    """The metric a sequence number updates: the names in turn, so each is updated evenly."""
    return names[seq % len(names)]


def _request(plan: Plan, seq: int) -> bytes:
    body = json.dumps([{"name": name_of(plan["names"], seq), "value": seq}]).encode()
    auth = f"Authorization: Bearer {plan['token']}\r\n" if plan["token"] else ""
    head = (
        f"POST {plan['path']} HTTP/1.1\r\nHost: 127.0.0.1:{plan['port']}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _responses(reader: asyncio.StreamReader, count: int, base: int, errors: list[str]) -> None:
    for k in range(count):
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
        body = await reader.readexactly(length)
        if head[9:12] != b"202":
            errors.append(f"seq {base + k}: {head[9:12].decode()} {body[:200].decode(errors='replace')}")


async def _publish(plan: Plan, sock: socket.socket) -> Published:
    """Open loop: each POST leaves on schedule, whether or not the previous one was answered.

    The requests are pipelined on one keep-alive connection, so the server takes them in
    order (several connections could be read in any order); responses are read meanwhile.
    """
    reader, writer = await asyncio.open_connection(sock=sock)
    sent_at: list[float] = []
    errors: list[str] = []
    late = 0
    interval = 1.0 / plan["rate"]
    answers = asyncio.ensure_future(_responses(reader, plan["count"], plan["base"], errors))
    started = time.monotonic()
    for k in range(plan["count"]):
        request = _request(plan, plan["base"] + k)
        wait = started + k * interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -interval:
            late += 1  # this process itself fell behind its schedule
        sent_at.append(time.monotonic())
        writer.write(request)
    try:
        await asyncio.wait_for(answers, 60)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
        errors.append(f"responses: {type(exc).__name__} {exc}")
    writer.close()
    return Published(sent_at=sent_at, errors=errors, late=late, started=started, finished=time.monotonic())


def main(argv: list[str]) -> None:
    plan: Plan = json.loads(argv[1])
    sock = socket.create_connection(("127.0.0.1", plan["port"]), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("ready", flush=True)
    if not sys.stdin.readline():
        return  # the benchmark went away
    sock.setblocking(False)
    print(json.dumps(asyncio.run(_publish(plan, sock))), flush=True)


class Publisher:
    """The benchmark's handle on one publisher process (start, go, result)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until it has connected."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.publisher",
            json.dumps(self.plan),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"publisher did not start: {line!r}")

    def go(self) -> None:
        """Start publishing now."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"go\n")

    async def result(self) -> Published:
        """Wait for the publisher to finish; when it sent what."""
        assert self._process is not None and self._process.stdout is not None
        budget = self.plan["count"] / self.plan["rate"] + 60
        line = await asyncio.wait_for(self._process.stdout.readline(), budget)
        await self._process.wait()
        if not line:
            raise RuntimeError(f"publisher exited with {self._process.returncode} and no result")
        result: Any = json.loads(line)
        published: Published = result
        return published

    def kill(self) -> None:
        """Stop it if it is still running (on errors and Ctrl-C)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()


if __name__ == "__main__":
    main(sys.argv)

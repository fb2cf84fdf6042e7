"""SIGTERM with open streams: they end cleanly and fast, ingests in flight finish, the process exits."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute

from tests.integration.helpers import (
    HTML_STREAM,
    JSON_STREAM,
    TIMEOUT,
    MakeServer,
    SSEStream,
    health,
    open_stream,
)
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

STREAMS_PER_KIND = 3
DEADLINE = 5.0


async def wait_for_exit(server: LiveServer, timeout: float) -> int:
    try:
        return await anyio.to_thread.run_sync(server.wait, timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"server still running {timeout}s after SIGTERM:\n{server.log()}") from None


async def wait_until_refusing(port: int, timeout: float) -> None:
    """Until the listening socket is closed: uvicorn's shutdown has begun."""
    with anyio.fail_after(timeout):
        while True:
            try:
                probe = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                return
            await probe.aclose()
            await anyio.sleep(0.02)


def tcp_queues(local_port: int, remote_port: int) -> tuple[int, int] | None:
    """(send queue, receive queue) in bytes of the loopback TCP socket local -> remote, from
    /proc/net/tcp; None when there is no such socket."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            send, receive = fields[4].split(":")
            return int(send, 16), int(receive, 16)
    return None


async def read_by_the_server(server_port: int, client_port: int) -> None:
    """Until what the client sent has been acknowledged (the client's send queue is empty) and
    read by uvicorn (the server's receive queue is empty): the request is in flight in it."""
    with anyio.fail_after(5):
        while (tcp_queues(client_port, server_port), tcp_queues(server_port, client_port)) != (
            (0, 0),
            (0, 0),
        ):
            await anyio.sleep(0.01)


async def terminate_with_open_streams(server: LiveServer) -> int:
    """Open streams of both kinds, SIGTERM, check every body ends cleanly; the exit code."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as client:
        opened: list[SSEStream] = []
        ended: list[SSEStream] = []

        async def hold(path: str) -> None:
            async with open_stream(client, path) as stream:
                assert (await stream.next_event()).event == "snapshot"
                opened.append(stream)
                await stream.read_to_end(DEADLINE)  # raises on an unterminated body
                ended.append(stream)

        async with anyio.create_task_group() as group:
            for path in [HTML_STREAM, JSON_STREAM] * STREAMS_PER_KIND:
                group.start_soon(hold, path)
            with anyio.fail_after(5):
                while len(opened) < 2 * STREAMS_PER_KIND:
                    await anyio.sleep(0.01)
            assert (await health(client))["streams"] == 2 * STREAMS_PER_KIND
            server.terminate()
        assert len(ended) == 2 * STREAMS_PER_KIND
    return await wait_for_exit(server, DEADLINE)


async def test_sigterm_ends_open_streams_cleanly(make_server: MakeServer) -> None:
    server = make_server().start()
    await terminate_with_open_streams(server)
    log = server.log()
    assert "Traceback" not in log, log
    assert "without completing response" not in log, log


async def test_sigterm_completes_the_shutdown_then_exits_by_the_signal(make_server: MakeServer) -> None:
    """uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status says what ended it."""
    server = make_server().start()
    code = await terminate_with_open_streams(server)
    log = server.log()
    assert code == -signal.SIGTERM, f"exit code {code} after SIGTERM:\n{log}"
    assert "Application shutdown complete" in log, log


async def test_ingest_in_flight_at_sigterm_completes(make_server: MakeServer) -> None:
    server = make_server().start()
    body = b'{"message": "written during the deploy"}'
    head = (
        "POST /api/activity HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as client,
        open_stream(client, JSON_STREAM) as stream,
    ):
        await stream.next_event()
        with anyio.fail_after(10):
            async with await anyio.connect_tcp("127.0.0.1", server.port) as connection:
                # The request is in flight: headers and part of the body are in when SIGTERM lands.
                await connection.send(head + body[:10])
                await read_by_the_server(server.port, connection.extra(SocketAttribute.local_port))
                server.terminate()
                await stream.read_to_end(DEADLINE)  # the server has seen SIGTERM,
                await wait_until_refusing(server.port, DEADLINE)  # and is shutting down.
                await connection.send(body[10:])
                response = b""
                with contextlib.suppress(anyio.EndOfStream):
                    while True:  # the server closes the connection after this last response
                        response += await connection.receive()
    answer_head, _, answer_body = response.partition(b"\r\n\r\n")
    assert answer_head.split(b"\r\n", 1)[0] == b"HTTP/1.1 202 Accepted", response
    accepted = json.loads(answer_body)
    assert (accepted["accepted"], accepted["held"]) == (1, 0), accepted
    assert re.fullmatch(r"\d+-1", accepted["last_id"]), accepted  # the first event of this server
    await wait_for_exit(server, DEADLINE)

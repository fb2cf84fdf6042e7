"""Limits against a real uvicorn: streams per client address and in total (also under a
lowered open-file limit, where /healthz and ingest must still answer), ingest per credential,
and what ingest refuses from browsers."""

from __future__ import annotations

import contextlib
import resource
from collections.abc import AsyncIterator

import anyio
import pytest

from tests.integration.helpers import HTML_STREAM, JSON_STREAM, client_for, post_metric
from tests.support.server import MakeServer

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def held_streams(port: int, count: int, headers: dict[str, str] | None = None) -> AsyncIterator[None]:
    """`count` streams open (their preamble read), each a bare HTTP/1.1 GET, until the block ends."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    async with contextlib.AsyncExitStack() as stack:
        for index in range(count):
            path = HTML_STREAM if index % 2 else JSON_STREAM
            stream = await anyio.connect_tcp("127.0.0.1", port)
            stack.push_async_callback(stream.aclose)
            await stream.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
            received = b""
            with anyio.fail_after(5):
                while b"retry:" not in received:
                    received += await stream.receive()
            assert received.startswith(b"HTTP/1.1 200"), (index, received[:100])
        yield


async def test_a_client_past_its_stream_cap_gets_429_with_retry_after_and_others_still_connect(
    make_server: MakeServer,
) -> None:
    server = make_server({"LIVEDASH_MAX_STREAMS_PER_IP": "3"}).start()
    one = {"X-Forwarded-For": "203.0.113.1"}
    async with client_for(server) as client:
        async with held_streams(server.port, 3, one):
            refused = await client.get(HTML_STREAM, headers=one)
            assert (refused.status_code, refused.headers["retry-after"]) == (429, "5")
            assert refused.json() == {
                "status_code": 429,
                "detail": "too many open streams from your address (at most 3)",
            }
            # What a client writes into X-Forwarded-For itself is not its address.
            spoofed = {"X-Forwarded-For": "192.0.2.77, 203.0.113.1"}
            assert (await client.get(HTML_STREAM, headers=spoofed)).status_code == 429
            async with held_streams(server.port, 3, {"X-Forwarded-For": "203.0.113.2"}):
                assert (await client.get("/healthz")).json()["streams"] == 6
        async with held_streams(server.port, 3, one):  # the first three ended: room again
            pass


async def test_past_the_total_cap_streams_get_503_with_retry_after(make_server: MakeServer) -> None:
    server = make_server({"LIVEDASH_MAX_STREAMS": "2"}).start()
    async with client_for(server) as client, held_streams(server.port, 2):
        refused = await client.get(JSON_STREAM, headers={"X-Forwarded-For": "203.0.113.9"})
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
        assert refused.json() == {
            "status_code": 503,
            "detail": "too many open streams on this server; retry later",
        }


NOFILE = 160
FD_RESERVE = 64


def lower_open_files() -> None:
    """In the server's process, before it starts: at most NOFILE open files, soft and hard."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


async def test_under_a_low_open_file_limit_streams_stop_short_and_healthz_and_ingest_still_answer(
    make_server: MakeServer,
) -> None:
    server = make_server(preexec=lower_open_files).start()
    cap = NOFILE - FD_RESERVE
    assert f"at most {cap} open streams: the open-file limit allows no more" in server.log()
    async with client_for(server) as client, held_streams(server.port, cap):
        for _ in range(3):
            refused = await client.get(HTML_STREAM)
            assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
        health = await client.get("/healthz")
        assert (health.status_code, health.json()["streams"]) == (200, cap)
        assert await post_metric(client, "under_fd_pressure", 1.0)
    assert "Too many open files" not in server.log()


async def test_ingest_refuses_a_body_that_is_not_json_and_cross_site_requests(
    make_server: MakeServer,
) -> None:
    server = make_server().start()
    async with client_for(server) as client:
        plain = await client.post(
            "/api/metrics", content=b'[{"name":"a","value":1}]', headers={"Content-Type": "text/plain"}
        )
        assert (plain.status_code, plain.json()["detail"]) == (415, "Content-Type: expected application/json")
        form = await client.post("/api/activity", data={"message": "hi"})
        assert form.status_code == 415
        body = [{"name": "a", "value": 1}]
        cross = await client.post("/api/metrics", json=body, headers={"Sec-Fetch-Site": "cross-site"})
        assert (cross.status_code, cross.json()["detail"]) == (
            403,
            "Sec-Fetch-Site: cross-site requests may not ingest",
        )
        origin = await client.post("/api/metrics", json=body, headers={"Origin": "https://evil.example"})
        assert (origin.status_code, origin.json()["detail"]) == (
            403,
            "Origin: requests from another site may not ingest",
        )
        same = await client.post(
            "/api/metrics", json=body, headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        )
        assert same.status_code == 202


async def test_without_a_token_loopback_ingest_is_off_unless_asked_for(make_server: MakeServer) -> None:
    """Behind nginx (no X-Forwarded-For by default) every request comes from 127.0.0.1."""
    server = make_server({"LIVEDASH_LOOPBACK_INGEST": "0"}).start()
    async with client_for(server) as client:
        refused = await client.post("/api/metrics", json=[{"name": "a", "value": 1}])
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "ingest needs LIVEDASH_INGEST_TOKEN (or LIVEDASH_LOOPBACK_INGEST=1 for clients on this machine)",
        )


async def test_ingest_past_its_rate_gets_429_with_retry_after(make_server: MakeServer) -> None:
    server = make_server({"LIVEDASH_INGEST_TOKEN": "rate-t0ken", "LIVEDASH_INGEST_RATE": "2"}).start()
    headers = {"Authorization": "Bearer rate-t0ken"}
    async with client_for(server) as client:
        statuses = [
            (await client.post("/api/metrics", json=[{"name": "r", "value": n}], headers=headers)).status_code
            for n in range(6)
        ]
        assert statuses[:4] == [202, 202, 202, 202]  # a burst of twice the rate
        refused = await client.post("/api/metrics", json=[{"name": "r", "value": 9}], headers=headers)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["detail"] == "ingest rate: at most 2 requests a second (LIVEDASH_INGEST_RATE)"

"""Viewer links against a real uvicorn: made with the ingest token, opened by a screen (which
lands on a clean URL), listed with last seen and open streams, revoked (its open stream ends
within 2 s and its browsers are logged out), and kept in SQLite or Redis."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.helpers import (
    HTML_STREAM,
    JSON_STREAM,
    TIMEOUT,
    client_for,
    open_stream,
    redis_settings,
    wait_for,
)
from tests.support.redis_server import RedisServer
from tests.support.server import LiveServer, MakeServer

pytestmark = pytest.mark.anyio

TOKEN = "link-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVER_ENV = {"LIVEDASH_VIEWER_PASSWORD": "pw for people", "LIVEDASH_INGEST_TOKEN": TOKEN}
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/link/([0-9a-f]{12})/([A-Za-z0-9_-]{32})")


async def create(api: httpx.AsyncClient, label: str) -> dict[str, Any]:
    response = await api.post("/api/viewer-links", json={"label": label}, headers=AUTH)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/api/viewer-links", headers=AUTH)
    assert response.status_code == 200, response.text
    links: list[dict[str, Any]] = response.json()
    return links


def link_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def test_a_link_is_made_opened_listed_and_revoked_and_its_open_stream_ends_within_2_s(
    server: LiveServer,
) -> None:
    before = time.time()
    async with client_for(server) as api, client_for(server) as screen:
        made = await create(api, "lobby tv")
        assert set(made) == {"id", "label", "url", "created_at"}
        match = URL.fullmatch(made["url"])
        assert match is not None, made["url"]
        assert (match.group(1), match.group(2), made["label"]) == (str(server.port), made["id"], "lobby tv")
        assert before <= made["created_at"] <= time.time()

        opened = await screen.get(link_path(made["url"]))
        assert (opened.status_code, opened.headers["location"]) == (303, "/")
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert opened.headers["cache-control"] == "no-store"
        assert opened.headers["set-cookie"].startswith(f"livedash_session=v1.l:{made['id']}.")
        page = await screen.get("/")
        assert page.status_code == 200
        assert 'action="/logout"' not in page.text  # a screen is logged out by revoking its link

        async with open_stream(screen, HTML_STREAM) as stream:
            assert (await stream.first_frame()).startswith(": livedash")

            async def one_stream_listed() -> list[dict[str, Any]] | None:
                links = await listed(api)
                return links if links and links[0]["streams"] == 1 else None

            (shown,) = await wait_for(one_stream_listed, 3.0, "the open stream counted on the link")
            assert set(shown) == {"id", "label", "created_at", "last_seen", "streams"}
            assert (shown["id"], shown["label"], shown["created_at"]) == (
                made["id"],
                "lobby tv",
                made["created_at"],
            )
            assert before <= shown["last_seen"] <= time.time()

            revoked = await api.delete(f"/api/viewer-links/{made['id']}", headers=AUTH)
            assert (revoked.status_code, revoked.json()) == (200, {"id": made["id"], "revoked": True})
            started = anyio.current_time()
            await stream.read_to_end(timeout=2.0)
            assert anyio.current_time() - started <= 2.0

        assert (await screen.get("/")).headers["location"] == "/login"
        assert (await screen.get(HTML_STREAM)).status_code == 401
        again = await screen.get(link_path(made["url"]))
        assert again.status_code == 404
        assert "This viewer link was revoked or never existed." in again.text
        assert await listed(api) == []
        gone = await api.delete(f"/api/viewer-links/{made['id']}", headers=AUTH)
        assert (gone.status_code, gone.json()["detail"]) == (404, f"link_id: no viewer link '{made['id']}'")


async def test_a_wrong_secret_opens_nothing(server: LiveServer) -> None:
    async with client_for(server) as api, client_for(server) as screen:
        made = await create(api, "kitchen")
        match = URL.fullmatch(made["url"])
        assert match is not None
        wrong = await screen.get(f"/link/{made['id']}/{'A' * 32}")
        assert (wrong.status_code, "set-cookie" in wrong.headers) == (404, False)
        assert (await screen.get("/")).status_code == 303


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "label: Object missing required field `label`"),
        ({"label": ""}, "label: Expected `str` of length >= 1 (at $.label)"),
        ({"label": "x" * 101}, "label: Expected `str` of length <= 100 (at $.label)"),
        ({"label": 7}, "label: Expected `str`, got `int` (at $.label)"),
    ],
)
async def test_a_bad_label_is_a_400_naming_the_field(
    server: LiveServer, body: dict[str, Any], detail: str
) -> None:
    async with client_for(server) as api:
        response = await api.post("/api/viewer-links", json=body, headers=AUTH)
        assert (response.status_code, response.json()["detail"]) == (400, detail)


async def test_the_link_api_needs_the_ingest_token(server: LiveServer) -> None:
    async with client_for(server) as api:
        assert (await api.post("/api/viewer-links", json={"label": "x"})).status_code == 401
        assert (await api.get("/api/viewer-links")).status_code == 401
        assert (await api.delete("/api/viewer-links/abc")).status_code == 401
        # A viewer's session is not the token either.
        await api.post("/login", data={"password": "pw for people"})
        assert (await api.get("/api/viewer-links")).status_code == 401


async def test_a_link_survives_a_restart_in_sqlite(make_server: MakeServer, tmp_path: Path) -> None:
    env = {**SERVER_ENV, "LIVEDASH_DB_PATH": str(tmp_path / "links.sqlite3")}
    server = make_server(env).start()
    async with client_for(server) as api, client_for(server) as screen:
        made = await create(api, "wall")
        assert (await screen.get(link_path(made["url"]))).status_code == 303
        server.restart()
        assert (await screen.get("/")).status_code == 200  # the session still names a live link
        assert [link["id"] for link in await listed(api)] == [made["id"]]
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as fresh:
            assert (await fresh.get(link_path(made["url"]))).status_code == 303


async def test_with_redis_a_link_opens_at_another_process_and_revoking_it_ends_streams_there(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = {**SERVER_ENV, **redis_settings(redis_server)}
    first = make_server(env).start()
    second = make_server(env).start()
    async with client_for(first) as api, client_for(second) as screen:
        made = await create(api, "redis tv")
        assert (await screen.get(f"/link/{made['id']}/{made['url'].rsplit('/', 1)[1]}")).status_code == 303
        async with open_stream(screen, JSON_STREAM) as stream:
            assert (await stream.first_frame()).startswith(": livedash")

            async def counted_at_the_other_process() -> list[dict[str, Any]] | None:
                links = await listed(api)
                return links if links and links[0]["streams"] == 1 else None

            await wait_for(counted_at_the_other_process, 4.0, "the stream at the second process counted")
            assert (await api.delete(f"/api/viewer-links/{made['id']}", headers=AUTH)).status_code == 200
            started = anyio.current_time()
            await stream.read_to_end(timeout=2.0)
            assert anyio.current_time() - started <= 2.0
        assert (await screen.get("/")).status_code == 303

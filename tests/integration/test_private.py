"""A board with a viewer password, against a real uvicorn: every way in without a session is
refused (path tricks included), cookies cannot be forged or outlive their expiry, wrong
passwords are throttled per client, and every answer carries the security headers."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app.settings import Settings
from app.web.access import SessionCodec, session_key
from tests.integration.helpers import HTML_STREAM, JSON_STREAM, TIMEOUT, client_for, open_stream
from tests.support import raw_http
from tests.support.server import LiveServer, MakeServer

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
TOKEN = "ingest-t0ken"
SECRET = "session-secret-one"
SERVER_ENV = {
    "LIVEDASH_VIEWER_PASSWORD": PASSWORD,
    "LIVEDASH_INGEST_TOKEN": TOKEN,
    "LIVEDASH_SESSION_SECRET": SECRET,
}
WEEK = 7 * 24 * 3600
REFUSED = {"status_code": 401, "detail": "log in first (/login), or open a viewer link"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def signed(subject: str, expires_in: float, secret: str = SECRET) -> str:
    """A cookie value as a server with `secret` signs it, expiring `expires_in` s from now."""
    codec = SessionCodec(session_key(Settings(session_secret=secret)), expires_in)
    return codec.issue(subject, time.time())


async def log_in(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/login", data={"password": PASSWORD}, headers=headers)


@pytest.fixture
async def anonymous(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(server) as client:
        yield client


# --- without a session -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_the_page_without_a_session_redirects_to_login(
    anonymous: httpx.AsyncClient, method: str
) -> None:
    response = await anonymous.request(method, "/")
    assert (response.status_code, response.headers["location"], response.content) == (303, "/login", b"")


# Each is a way a path could be written to reach a stream, or another protected route,
# without the gate recognising it. uvicorn decodes percent-escapes before anyone sees the path.
BYPASSES = [
    HTML_STREAM,
    JSON_STREAM,
    "//dashboard/stream",
    "/dashboard/stream/",
    "/dashboard//stream",
    "/./dashboard/stream",
    "/dashboard/./stream",
    "/dashboard/stream/.",
    "/static/../dashboard/stream",
    "/api/../dashboard/stream",
    "/%64ashboard/stream",
    "/dashboard%2Fstream",
    "/dashboard/%2e/stream",
    "/%2e/dashboard/stream",
    "/api/dashboard%2fstream",
    "/DASHBOARD/STREAM",
    "/Dashboard/Stream",
    "/API/dashboard/stream",
    "/dashboard/stream?lastEventId=0-0",
    "/schema/openapi.json",
    "/schema",
    "/cards/page_views",
    "/api/history",
    "/%2F",
    "//",
    "/healthz/../dashboard/stream",
    "/login/../dashboard/stream",
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", BYPASSES)
def test_every_way_of_writing_a_protected_path_is_refused_with_401_and_nothing_of_it(
    server: LiveServer, target: str, method: str
) -> None:
    answer = raw_http.request(server.port, method, target)
    assert answer.status == 401, (target, answer)
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    if method == "GET":
        assert (
            answer.body == b'{"status_code": 401, "detail": "log in first (/login), or open a viewer link"}'
        )
    else:
        assert answer.body == b""


@pytest.mark.parametrize("target", ["/dashboard/stream", "/api/dashboard/stream"])
async def test_other_methods_on_a_stream_are_refused_before_the_stream_handler(
    anonymous: httpx.AsyncClient, target: str
) -> None:
    response = await anonymous.post(target, content=b"x")
    assert (response.status_code, response.json()) == (401, REFUSED)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/healthz", "application/json"),
        ("/readyz", "application/json"),
        ("/login", "text/html; charset=utf-8"),
        ("/static/livedash.css", "text/css; charset=utf-8"),
        ("/static/livedash.js", "text/javascript; charset=utf-8"),
    ],
)
async def test_probes_login_and_static_files_stay_open(
    anonymous: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await anonymous.get(path)
    assert (response.status_code, response.headers["content-type"]) == (200, content_type)


# --- logging in ------------------------------------------------------------------------


async def test_the_login_form_sets_a_signed_http_only_lax_session_that_opens_page_and_streams(
    anonymous: httpx.AsyncClient,
) -> None:
    page = await anonymous.get("/login")
    assert 'name="password"' in page.text and 'action="/login"' in page.text
    response = await log_in(anonymous)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    cookie = response.headers["set-cookie"]
    value = re.fullmatch(r"livedash_session=(v1\.p\.\d+\.[A-Za-z0-9_-]{43}); (.*)", cookie)
    assert value is not None, cookie
    assert value.group(2) == f"Path=/; Max-Age={WEEK}; HttpOnly; SameSite=Lax"
    expires = int(value.group(1).split(".")[2])
    assert abs(expires - (time.time() + WEEK)) < 60
    board = await anonymous.get("/")
    assert board.status_code == 200
    assert 'sse-connect="/dashboard/stream?lastEventId=' in board.text
    assert 'action="/logout"' in board.text
    for path in (HTML_STREAM, JSON_STREAM):
        async with open_stream(anonymous, path) as stream:
            assert (await stream.first_frame()).startswith(": livedash")
    logged_out = await anonymous.post("/logout")
    assert (logged_out.status_code, logged_out.headers["location"]) == (303, "/login")
    assert logged_out.headers["set-cookie"] == "livedash_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    assert (await anonymous.get("/")).status_code == 303


async def test_behind_a_trusted_https_proxy_the_session_cookie_is_secure(
    anonymous: httpx.AsyncClient,
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.50"}
    response = await log_in(anonymous, headers)
    assert response.headers["set-cookie"].endswith("; HttpOnly; SameSite=Lax; Secure")


async def test_a_wrong_password_is_401_with_the_form_again(anonymous: httpx.AsyncClient) -> None:
    headers = {"X-Forwarded-For": "203.0.113.60"}
    response = await anonymous.post("/login", data={"password": "guess"}, headers=headers)
    assert response.status_code == 401
    assert '<p id="login-error" class="login__error" role="alert">Wrong password.</p>' in response.text
    assert "set-cookie" not in response.headers
    empty = await anonymous.post("/login", data={}, headers=headers)
    assert empty.status_code == 400
    assert "password: enter the password." in empty.text


async def test_wrong_passwords_are_throttled_per_client_with_retry_after(
    anonymous: httpx.AsyncClient,
) -> None:
    # Two clients behind the trusted proxy (this test's loopback peer): only the guesser waits.
    guesser = {"X-Forwarded-For": "198.51.100.7"}
    other = {"X-Forwarded-For": "198.51.100.8"}
    for _ in range(5):
        wrong = await anonymous.post("/login", data={"password": "guess"}, headers=guesser)
        assert wrong.status_code == 401
    throttled = await anonymous.post("/login", data={"password": "guess"}, headers=guesser)
    assert throttled.status_code == 429
    assert 295 <= int(throttled.headers["retry-after"]) <= 301
    assert "Too many wrong passwords; wait a few minutes." in throttled.text
    right_but_throttled = await anonymous.post("/login", data={"password": PASSWORD}, headers=guesser)
    assert (right_but_throttled.status_code, "set-cookie" in right_but_throttled.headers) == (429, False)
    # The client-written part of X-Forwarded-For is not who the client is: still throttled.
    spoofed = {"X-Forwarded-For": "192.0.2.99, 198.51.100.7"}
    assert (await anonymous.post("/login", data={"password": PASSWORD}, headers=spoofed)).status_code == 429
    assert (await log_in(anonymous, other)).status_code == 303


# --- forged and expired cookies --------------------------------------------------------


def tampered() -> dict[str, str]:
    good = signed("p", 3600)
    version, subject, expires, mac = good.split(".")
    return {
        "expiry moved": f"{version}.{subject}.{int(expires) + 10_000}.{mac}",
        "subject changed": f"{version}.l:abcdef.{expires}.{mac}",
        "mac dropped": f"{version}.{subject}.{expires}",
        "mac of another key": signed("p", 3600, secret="session-secret-two"),
        "expired a second ago": signed("p", -1),
        "not a cookie of ours": "hello",
        "empty": "",
    }


@pytest.mark.parametrize("case", list(tampered()))
async def test_a_tampered_or_expired_cookie_is_no_session(server: LiveServer, case: str) -> None:
    cookie = tampered()[case]
    async with httpx.AsyncClient(
        base_url=server.url, timeout=TIMEOUT, trust_env=False, cookies={"livedash_session": cookie}
    ) as client:
        page = await client.get("/")
        assert (page.status_code, page.headers["location"]) == (303, "/login")
        # The stale cookie is removed on the way to the login page.
        assert page.headers["set-cookie"] == "livedash_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        for path in (HTML_STREAM, JSON_STREAM):
            refused = await client.get(path)
            assert (refused.status_code, refused.json()) == (401, REFUSED)


async def test_a_cookie_signed_with_the_server_secret_is_a_session_until_it_expires(
    server: LiveServer,
) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=TIMEOUT, trust_env=False, cookies={"livedash_session": signed("p", 3600)}
    ) as client:
        assert (await client.get("/")).status_code == 200


async def test_rotating_the_session_secret_logs_every_browser_out(make_server: MakeServer) -> None:
    first = make_server({**SERVER_ENV}).start()
    async with client_for(first) as client:
        assert (await log_in(client)).status_code == 303
        cookie = client.cookies["livedash_session"]
        assert (await client.get("/")).status_code == 200
    first.stop()
    rotated = make_server(
        {**SERVER_ENV, "LIVEDASH_SESSION_SECRET": "session-secret-two"}, port=first.port
    ).start()
    async with httpx.AsyncClient(
        base_url=rotated.url, timeout=TIMEOUT, trust_env=False, cookies={"livedash_session": cookie}
    ) as client:
        assert (await client.get("/")).status_code == 303
        assert (await client.get(HTML_STREAM)).status_code == 401


# --- other credentials -----------------------------------------------------------------


async def test_the_ingest_token_opens_the_json_stream_for_programs(anonymous: httpx.AsyncClient) -> None:
    async with open_stream(anonymous, JSON_STREAM, headers={"Authorization": f"Bearer {TOKEN}"}) as stream:
        assert (await stream.first_frame()).startswith(": livedash")
    wrong = await anonymous.get(JSON_STREAM, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_the_sso_header_is_honoured_from_a_trusted_proxy_only(make_server: MakeServer) -> None:
    header = {"X-Forwarded-Email": "ada@example.com"}
    trusted = make_server(
        {"LIVEDASH_TRUSTED_USER_HEADER": "X-Forwarded-Email", "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    ).start()
    untrusted = make_server(
        {"LIVEDASH_TRUSTED_USER_HEADER": "X-Forwarded-Email", "FORWARDED_ALLOW_IPS": "10.0.0.7"}
    ).start()
    async with client_for(trusted) as client:
        assert (await client.get("/", headers=header)).status_code == 200
        assert (await client.get("/")).status_code == 303
        async with open_stream(client, HTML_STREAM, headers=header) as stream:
            assert (await stream.first_frame()).startswith(": livedash")
    async with client_for(untrusted) as client:
        assert (await client.get("/", headers=header)).status_code == 303
        assert (await client.get(HTML_STREAM, headers=header)).status_code == 401


# --- headers and logs ------------------------------------------------------------------


async def test_every_html_answer_carries_the_security_headers_and_streams_nosniff(
    anonymous: httpx.AsyncClient,
) -> None:
    login_page = await anonymous.get("/login")
    await log_in(anonymous)
    for response in (login_page, await anonymous.get("/")):
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["permissions-policy"] == (
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        )
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers
    async with anonymous.stream("GET", HTML_STREAM) as stream:
        assert stream.headers["x-content-type-options"] == "nosniff"
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"


async def test_frame_ancestors_and_hsts_follow_their_settings(make_server: MakeServer) -> None:
    server = make_server(
        {**SERVER_ENV, "LIVEDASH_FRAME_ANCESTORS": "https://wall.example", "LIVEDASH_HSTS": "1"}
    ).start()
    async with client_for(server) as client:
        for response in (await client.get("/login"), await client.get("/healthz"), await client.get("/")):
            assert response.headers["content-security-policy"].endswith(
                "; frame-ancestors https://wall.example"
            )
            assert response.headers["strict-transport-security"] == "max-age=31536000"
            assert "x-frame-options" not in response.headers


async def test_refused_requests_write_no_traceback_or_error_line(make_server: MakeServer) -> None:
    server = make_server({**SERVER_ENV}).start()
    async with client_for(server) as client:
        for _ in range(20):
            assert (await client.get(HTML_STREAM)).status_code == 401
            assert (await client.post("/api/metrics", json=[{"name": "a", "value": 1}])).status_code == 401
            assert (await client.post("/login", data={"password": "x"})).status_code in (401, 429)
            assert (
                await client.get("/nowhere", headers={"Authorization": f"Bearer {TOKEN}"})
            ).status_code == 404
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log


async def test_only_the_allowed_hosts_are_answered_streams_included(make_server: MakeServer) -> None:
    server = make_server({"LIVEDASH_ALLOWED_HOSTS": "board.example, *.wall.example"}).start()
    async with client_for(server) as client:
        for host in ("board.example", "tv1.wall.example"):
            assert (await client.get("/", headers={"Host": host})).status_code == 200
            async with open_stream(client, HTML_STREAM, headers={"Host": host}) as stream:
                assert (await stream.first_frame()).startswith(": livedash")
        for path, host in (
            ("/", "evil.example"),
            (HTML_STREAM, "evil.example"),
            ("/login", "board.example:81"),
        ):
            refused = await client.get(path, headers={"Host": host})
            assert (refused.status_code, refused.json()["detail"]) == (
                400,
                "Host: not one this server answers for",
            )
        # A load balancer's health check comes by address.
        assert (await client.get("/healthz", headers={"Host": "10.0.0.9"})).status_code == 200

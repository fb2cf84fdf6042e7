"""The plain logic of who may see the board: path decisions, the session cookie, client
addresses, the login throttle, the ingest rate and the stream counter."""

from __future__ import annotations

import ipaddress

import pytest

from app.settings import Settings
from app.web.access import (
    Access,
    Client,
    LoginThrottle,
    RateLimit,
    Refusal,
    SessionCodec,
    StreamCounter,
    access_of,
    client_key,
    client_of,
    cookie_value,
    password_matches,
    session_key,
    set_cookie,
)
from app.web.routes.health import redact_hosts

STREAMS = ("/dashboard/stream", "/api/dashboard/stream")


@pytest.mark.parametrize(
    ("path", "access"),
    [
        ("/healthz", Access.open),
        ("/readyz", Access.open),
        ("/login", Access.open),
        ("/logout", Access.open),
        ("/static/livedash.js", Access.open),
        ("/link/abc/def", Access.open),
        ("/", Access.page),
        ("/api/metrics", Access.guarded),
        ("/api/alerts/cpu", Access.guarded),
        ("/api/viewer-links", Access.guarded),
        ("/api/viewer-links/abc", Access.guarded),
        ("/dashboard/stream", Access.viewer),
        ("/api/dashboard/stream", Access.viewer),
        ("/api/history", Access.viewer),
        ("/api/metricsx", Access.viewer),
        ("/schema/openapi.json", Access.viewer),
        ("//dashboard/stream", Access.viewer),
        ("/static/../dashboard/stream", Access.viewer),
        ("/static/./x", Access.viewer),
        ("/static/", Access.viewer),
        ("/healthz/", Access.viewer),
        ("/HEALTHZ", Access.viewer),
        ("/static/%2e%2e/x", Access.viewer),
        ("/static\\..\\x", Access.viewer),
        ("", Access.viewer),
    ],
)
def test_only_exact_paths_are_open_and_anything_unusual_needs_a_viewer(path: str, access: Access) -> None:
    assert access_of(path, STREAMS) is access


def test_a_session_reads_back_its_subject_until_it_expires() -> None:
    codec = SessionCodec(b"k" * 32, lifetime=100)
    value = codec.issue("l:abc123", now=1000)
    assert value.startswith("v1.l:abc123.1100.")
    assert codec.read(value, now=1099.9) == "l:abc123"
    assert codec.read(value, now=1100) is None


@pytest.mark.parametrize(
    "forge",
    [
        lambda v: v.replace(".1100.", ".9100."),
        lambda v: v.replace("v1.p.", "v1.l:x."),
        lambda v: v.rsplit(".", 1)[0],
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
        lambda v: "v2" + v[2:],
        lambda v: "",
    ],
)
def test_a_forged_session_reads_as_none(forge: object) -> None:
    codec = SessionCodec(b"k" * 32, lifetime=100)
    value = codec.issue("p", now=1000)
    assert callable(forge)
    assert codec.read(forge(value), now=1000) is None


def test_the_session_key_changes_with_the_secret_or_else_the_password() -> None:
    assert session_key(Settings(session_secret="a")) == session_key(
        Settings(session_secret="a", viewer_password="x")
    )
    assert session_key(Settings(session_secret="a")) != session_key(Settings(session_secret="b"))
    assert session_key(Settings(viewer_password="x")) != session_key(Settings(viewer_password="y"))
    assert session_key(Settings()) != session_key(Settings())  # nothing to derive from: random


def test_cookie_header_parsing_and_set_cookie() -> None:
    headers = [(b"cookie", b"a=1; livedash_session=v1.p.5.mac"), (b"host", b"x")]
    assert cookie_value(headers) == "v1.p.5.mac"
    assert cookie_value([(b"cookie", b"livedash_sessionx=1")]) is None
    assert (
        set_cookie("v", 60, secure=True)
        == "livedash_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
    )


def test_password_comparison() -> None:
    assert password_matches("pw", "pw")
    assert not password_matches("pw ", "pw")
    assert not password_matches("", "pw")


LOCAL = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        ("203.0.113.5", None, LOCAL, Client("203.0.113.5", False, False)),
        ("203.0.113.5", "1.2.3.4", LOCAL, Client("203.0.113.5", False, False)),  # not a proxy of ours
        ("127.0.0.1", None, LOCAL, Client("127.0.0.1", False, True)),
        ("127.0.0.1", "1.2.3.4", LOCAL, Client("1.2.3.4", True, True)),
        ("127.0.0.1", "9.9.9.9, 1.2.3.4", LOCAL, Client("1.2.3.4", True, True)),  # the left is the client's
        ("127.0.0.1", "1.2.3.4, 127.0.0.1", LOCAL, Client("1.2.3.4", True, True)),  # a chain of our proxies
        ("10.1.2.3", "9.9.9.9, 1.2.3.4", None, Client("1.2.3.4", True, True)),  # '*': the router appended
    ],
)
def test_the_client_is_the_address_the_trusted_proxy_appended(
    peer: str, forwarded: str | None, proxies: tuple[ipaddress.IPv4Network, ...] | None, client: Client
) -> None:
    assert client_of(peer, forwarded, proxies) == client


def test_the_login_throttle_refuses_after_five_failures_until_the_window_passes() -> None:
    throttle = LoginThrottle(attempts=5, window=300)
    for second in range(5):
        assert throttle.retry_after("a", now=second) is None
        throttle.failed("a", now=second)
    assert throttle.retry_after("a", now=10) == 290
    assert throttle.retry_after("b", now=10) is None
    assert throttle.retry_after("a", now=300.5) is None  # the first failure left the window
    throttle.succeeded("a")
    assert throttle.retry_after("a", now=301) is None


def test_the_rate_limit_allows_a_burst_of_twice_the_rate_then_one_per_interval() -> None:
    limit = RateLimit(rate=2)
    assert [limit.retry_after("t", now=0) for _ in range(4)] == [None] * 4
    assert limit.retry_after("t", now=0) == 0.5
    assert limit.retry_after("t", now=0.5) is None
    assert limit.retry_after("other", now=0.5) is None
    assert RateLimit(rate=0).retry_after("t", now=0) is None


def test_the_stream_counter_refuses_past_each_cap_and_counts_releases() -> None:
    counter = StreamCounter(per_client=2, total=3)
    assert [counter.acquire("a"), counter.acquire("a")] == [None, None]
    assert counter.acquire("a") == Refusal(429, "too many open streams from your address (at most 2)")
    assert counter.acquire("b") is None
    assert counter.acquire("c") == Refusal(503, "too many open streams on this server; retry later")
    counter.release("a")
    assert (counter.held("a"), counter.open) == (1, 2)
    assert counter.acquire("c") is None


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        (
            "redis: Error 111 connecting to 10.0.3.7:6379. Connection refused.",
            "redis: Error 111 connecting to <host>. Connection refused.",
        ),
        (
            "redis: Error -2 connecting to cache.internal:6380. Name or service not known.",
            "redis: Error -2 connecting to <host>. Name or service not known.",
        ),
        ("redis: Timeout reading from cache.internal", "redis: Timeout reading from <host>"),
        (
            "sqlite: cannot write data/x.sqlite3: disk I/O error",
            "sqlite: cannot write data/x.sqlite3: disk I/O error",
        ),
    ],
)
def test_problems_shown_to_clients_name_no_host(problem: str, shown: str) -> None:
    assert redact_hosts(problem) == shown


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_limits_count_an_ipv6_client_by_its_64(host: str, key: str) -> None:
    assert client_key(host) == key

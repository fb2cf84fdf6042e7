"""Who may ingest (and manage viewer links): a bearer token, or, when none is configured and
`LIVEDASH_LOOPBACK_INGEST` is on, only this machine. Never a browser on another site."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Mapping

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers import BaseRouteHandler

from app.settings import Settings
from app.web.access import RateLimit

PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "via", "x-forwarded-host")
"""Any of these says a proxy relayed the request: its loopback address is then the proxy's."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def bearer_matches(authorization: str | None, settings: Settings) -> bool:
    """`Authorization: Bearer <LIVEDASH_INGEST_TOKEN>`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    token = settings.ingest_token
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


def check_ingest(
    settings: Settings, authorization: str | None, client_host: str | None, proxied: bool = False
) -> None:
    """Raise 401/403 unless the request may ingest; the message says what to fix.

    Without a token, only direct loopback clients may ingest, and only when
    `LIVEDASH_LOOPBACK_INGEST` is on: nginx's `proxy_pass` sends no `X-Forwarded-For` by
    default, so behind a proxy on the same machine every request looks local.
    """
    if not settings.ingest_token:
        if settings.loopback_ingest and is_loopback(client_host) and not proxied:
            return
        raise PermissionDeniedException(
            "ingest needs LIVEDASH_INGEST_TOKEN"
            + (
                " (LIVEDASH_LOOPBACK_INGEST admits only direct loopback clients)"
                if settings.loopback_ingest
                else " (or LIVEDASH_LOOPBACK_INGEST=1 for clients on this machine)"
            )
        )
    if not bearer_matches(authorization, settings):
        raise NotAuthorizedException(
            "Authorization: Bearer <LIVEDASH_INGEST_TOKEN> is missing or wrong",
            headers={"WWW-Authenticate": 'Bearer realm="livedash ingest"'},
        )


def check_browser(method: str, headers: Mapping[str, str], host: str | None) -> None:
    """Refuse what a web page on another site could make a browser send: a cross-site
    request (`Sec-Fetch-Site`, `Origin`), or a body that is not JSON (a form or `text/plain`
    POST needs no CORS preflight, so it would reach us)."""
    site = headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        raise PermissionDeniedException(f"Sec-Fetch-Site: {site} requests may not ingest")
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or origin.partition("://")[2] != (host or "")):
        raise PermissionDeniedException("Origin: requests from another site may not ingest")
    if method in ("POST", "PUT", "PATCH"):
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise ClientException("Content-Type: expected application/json", status_code=415)


def check_rate(limit: RateLimit, key: str, now: float) -> None:
    """429 with Retry-After past the credential's ingest rate."""
    wait = limit.retry_after(key, now)
    if wait is not None:
        raise TooManyRequestsException(
            f"ingest rate: at most {limit.rate:g} requests a second (LIVEDASH_INGEST_RATE)",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )


async def ingest_guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Litestar guard around `check_browser`, `check_ingest` and `check_rate`."""
    client = connection.client
    headers = connection.headers
    settings: Settings = connection.app.state.settings
    check_browser(str(connection.scope.get("method", "GET")), headers, headers.get("host"))
    check_ingest(
        settings,
        headers.get("authorization"),
        client.host if client else None,
        proxied=any(name in headers for name in PROXY_HEADERS),
    )
    key = "token" if settings.ingest_token else f"client {client.host if client else ''}"
    check_rate(connection.app.state.ingest_rate, key, time.monotonic())


def check_metrics(
    settings: Settings, authorization: str | None, client_host: str | None, proxied: bool = False
) -> None:
    """Raise 401/403 unless the request may read /metrics: this machine (a sidecar or node
    exporter's scraper), or anyone with `LIVEDASH_METRICS_TOKEN` as a bearer token."""
    if is_loopback(client_host) and not proxied:
        return
    token = settings.metrics_token
    if not token:
        raise PermissionDeniedException(
            "/metrics is open to loopback clients only while LIVEDASH_METRICS_TOKEN is unset"
        )
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise NotAuthorizedException(
            "Authorization: Bearer <LIVEDASH_METRICS_TOKEN> is missing or wrong",
            headers={"WWW-Authenticate": 'Bearer realm="livedash metrics"'},
        )


async def metrics_guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Litestar guard around `check_metrics`."""
    client = connection.client
    headers = connection.headers
    check_metrics(
        connection.app.state.settings,
        headers.get("authorization"),
        client.host if client else None,
        proxied=any(name in headers for name in PROXY_HEADERS),
    )

"""Who may ingest: a bearer token, or, when none is configured, only this machine."""

from __future__ import annotations

import hmac
import ipaddress

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from app.settings import Settings


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


def check_ingest(
    settings: Settings, authorization: str | None, client_host: str | None, proxied: bool = False
) -> None:
    """Raise 401/403 unless the request may ingest; the message says what to fix.

    Without a token only direct loopback clients may ingest: a request that came through a
    proxy (`X-Forwarded-For`) is refused even when the proxy says it is local, because
    behind `--forwarded-allow-ips='*'` anyone can write that header.
    """
    token = settings.ingest_token
    if not token:
        if is_loopback(client_host) and not proxied:
            return
        raise PermissionDeniedException(
            "ingest is open to loopback clients only while LIVEDASH_INGEST_TOKEN is unset"
        )
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise NotAuthorizedException(
            "Authorization: Bearer <LIVEDASH_INGEST_TOKEN> is missing or wrong",
            headers={"WWW-Authenticate": 'Bearer realm="livedash ingest"'},
        )


async def ingest_guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Litestar guard around `check_ingest`."""
    client = connection.client
    headers = connection.headers
    check_ingest(
        connection.app.state.settings,
        headers.get("authorization"),
        client.host if client else None,
        proxied="x-forwarded-for" in headers or "forwarded" in headers,
    )


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
        proxied="x-forwarded-for" in headers or "forwarded" in headers,
    )

from __future__ import annotations

import pytest
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from app.settings import Settings
from app.web.auth import check_ingest, is_loopback

OPEN = Settings(ingest_token="", loopback_ingest=True)
DEFAULT = Settings(ingest_token="")
LOCKED = Settings(ingest_token="s3cret")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("testclient", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_token_nobody_may_ingest_by_default_not_even_loopback() -> None:
    """nginx's proxy_pass sends no X-Forwarded-For: behind it, every request is from 127.0.0.1."""
    with pytest.raises(PermissionDeniedException) as refused:
        check_ingest(DEFAULT, None, "127.0.0.1")
    assert refused.value.detail == (
        "ingest needs LIVEDASH_INGEST_TOKEN (or LIVEDASH_LOOPBACK_INGEST=1 for clients on this machine)"
    )


def test_with_loopback_ingest_only_direct_loopback_clients_may_ingest_without_token() -> None:
    check_ingest(OPEN, None, "127.0.0.1")
    with pytest.raises(PermissionDeniedException, match="LIVEDASH_INGEST_TOKEN"):
        check_ingest(OPEN, None, "192.168.1.5")
    with pytest.raises(PermissionDeniedException):
        check_ingest(OPEN, None, "127.0.0.1", proxied=True)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic s3cret", "s3cret"])
def test_token_must_match(header: str | None) -> None:
    with pytest.raises(NotAuthorizedException):
        check_ingest(LOCKED, header, "127.0.0.1")


def test_right_token_from_anywhere() -> None:
    check_ingest(LOCKED, "Bearer s3cret", "203.0.113.9", proxied=True)
    check_ingest(LOCKED, "bearer s3cret", "203.0.113.9")

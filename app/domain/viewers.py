"""Viewer links: a revocable URL that logs one screen (a wall TV) in.

The secret is shown once, when the link is made; the hub keeps only its SHA-256, so a copy of
the store does not let anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

import msgspec

LINK_ID_BYTES = 6
SECRET_BYTES = 24


class ViewerLink(msgspec.Struct, frozen=True, kw_only=True):
    """One link as the hub keeps it."""

    id: str
    label: str
    secret_hash: str
    created_at: float
    last_seen: float | None = None


def new_link(label: str, now: float) -> tuple[ViewerLink, str]:
    """A fresh link and its secret (the secret is not kept anywhere)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    link = ViewerLink(
        id=secrets.token_hex(LINK_ID_BYTES), label=label, secret_hash=hash_secret(secret), created_at=now
    )
    return link, secret


def hash_secret(secret: str) -> str:
    """What the hub stores instead of the secret: a long random secret needs no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(link: ViewerLink, secret: str) -> bool:
    """Constant-time, so timing does not reveal how much of a guess was right."""
    return hmac.compare_digest(link.secret_hash, hash_secret(secret))


encode_link = msgspec.json.Encoder().encode
decode_link = msgspec.json.Decoder(ViewerLink).decode


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    """What `POST /api/viewer-links` takes."""

    label: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]

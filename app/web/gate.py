"""The ASGI layer in front of everything, streams included: who the client is, whether it may
see what it asks for, how many streams it holds, and the security headers of every answer.

It sits outside `StreamsFirst`, because the two stream paths never reach Litestar: a Litestar
guard would not cover them. It decides on the path exactly as the server decoded it
(`access.access_of`): only a few exact paths are open, and a path written any other way
(`//dashboard/stream`, `/dashboard/stream/`, `/./`, `%2F`, another case) needs a viewer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.service.viewers import Viewers
from app.settings import Settings
from app.web.access import (
    LINK_SUBJECT,
    PASSWORD_SUBJECT,
    SESSION_COOKIE,
    Access,
    Client,
    SessionCodec,
    access_of,
    client_of,
    cookie_value,
    set_cookie,
)
from app.web.auth import bearer_matches

log = logging.getLogger("livedash.gate")

PROBES = frozenset({"/healthz", "/readyz"})
VIEWER = "livedash.viewer"
"""Where the gate leaves who the viewer is (`Viewer`) in the scope's state."""


class Viewer:
    """Who is looking: `kind` is `open` (no login needed), `password`, `link`, `sso` or `token`."""

    __slots__ = ("kind", "link_id", "name")

    def __init__(self, kind: str, link_id: str | None = None, name: str | None = None) -> None:
        self.kind = kind
        self.link_id = link_id
        self.name = name


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every answer but a stream carries (a stream gets nosniff on its own)."""
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {settings.frame_ancestors}"
    )
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ]
    if settings.frame_ancestors == "'none'":
        headers.append((b"x-frame-options", b"DENY"))
    if settings.hsts:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


def host_allowed(host: str, allowed: list[str]) -> bool:
    """`host` (the whole header, port included, as Litestar's `AllowedHostsConfig` matches it)
    is one of `allowed`; `*.example.com` matches its subdomains."""
    name = host.lower()
    for pattern in (item.lower() for item in allowed):
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


OPEN = Viewer("open")
"""The viewer of a board nobody needs to log in to (one object for every request)."""


class Gate:
    """In front of Litestar: resolves the client, checks access, adds headers, then `app`.
    The streams pass the same check in `StreamsFirst`, which stands in front of this."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        sessions: SessionCodec,
        viewers: Viewers,
        stream_paths: frozenset[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.settings = settings
        self.sessions = sessions
        self.viewers = viewers
        self.stream_paths = stream_paths
        self.clock = clock
        self.headers = security_headers(settings)
        self._proxies = settings.trusted_proxies
        self._allowed = settings.allowed_host_list
        self._user_header = settings.trusted_user_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if await self.admit(scope, send):
            await self.app(scope, receive, self._with_headers(send))

    async def admit(self, scope: Scope, send: Send) -> bool:
        """Resolve the client and decide; a refusal is answered here. True: let it through.

        `StreamsFirst` asks this for a stream and then serves it itself, so an open stream
        keeps no frame of the gate alive (ten thousand streams, ten thousand frames).
        """
        headers = scope["headers"]
        client = self.resolve(scope)
        path: str = scope["path"]
        # Probes come by address (a load balancer's health check): they answer whatever the Host.
        probe = path in PROBES
        if self._allowed and not probe and not host_allowed(_header(headers, b"host") or "", self._allowed):
            await self.refuse(send, 400, "Host: not one this server answers for")
            return False
        access = access_of(path, self.stream_paths)
        viewer = await self.identify(headers, client) if self.settings.protected else OPEN
        scope.setdefault("state", {})[VIEWER] = viewer
        if viewer is None and access in (Access.page, Access.viewer):
            if access is Access.page and scope.get("method") in ("GET", "HEAD"):
                await self.redirect(send, "/login", clear=cookie_value(headers) is not None, scope=scope)
            else:
                await self.refuse(send, 401, "log in first (/login), or open a viewer link")
            return False
        return True

    def resolve(self, scope: Scope) -> Client:
        """Believe `X-Forwarded-For` and `X-Forwarded-Proto` from trusted proxies only; the
        scope's client and scheme become what was believed."""
        peer = scope.get("client")
        headers = scope["headers"]
        client = client_of(peer[0] if peer else None, _header(headers, b"x-forwarded-for"), self._proxies)
        if client.proxied:
            scope["client"] = (client.host, 0)
            proto = (_header(headers, b"x-forwarded-proto") or "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
        return client

    async def identify(self, headers: Iterable[tuple[bytes, bytes]], client: Client) -> Viewer | None:
        """The viewer a request speaks for, if any."""
        if self._user_header and client.trusted_peer:
            user = _header(headers, self._user_header)
            if user:
                return Viewer("sso", name=user)
        value = cookie_value(headers)
        subject = self.sessions.read(value, self.clock()) if value else None
        if subject == PASSWORD_SUBJECT and self.settings.viewer_password:
            return Viewer("password")
        if subject and subject.startswith(LINK_SUBJECT):
            link_id = subject.removeprefix(LINK_SUBJECT)
            if await self.viewers.is_live(link_id):
                return Viewer("link", link_id=link_id)
        if self.settings.ingest_token and bearer_matches(_header(headers, b"authorization"), self.settings):
            return Viewer("token")
        return None

    def _with_headers(self, send: Send) -> Send:
        extra = self.headers

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        return sending

    async def refuse(
        self, send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """A short JSON refusal; nothing of the stream or page is sent."""
        body = json.dumps({"status_code": status, "detail": detail}).encode()
        await _answer(
            send, status, [(b"content-type", b"application/json"), *(headers or []), *self.headers], body
        )

    async def redirect(self, send: Send, location: str, *, clear: bool, scope: Scope) -> None:
        """303 to `location`; a stale session cookie is removed on the way."""
        headers = [(b"location", location.encode()), (b"cache-control", b"no-store"), *self.headers]
        if clear:
            secure = scope.get("scheme") == "https"
            headers.append((b"set-cookie", set_cookie("", 0, secure).encode()))
        await _answer(send, 303, headers, b"")


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = ["SESSION_COOKIE", "VIEWER", "Gate", "Viewer", "security_headers"]

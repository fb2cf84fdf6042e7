"""Who may see the board: plain functions and small classes, testable without HTTP.

`app/web/gate.py` applies them to every request, streams included, before any route runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import NamedTuple

from app.settings import Settings

SESSION_COOKIE = "livedash_session"
PASSWORD_SUBJECT = "p"
LINK_SUBJECT = "l:"

# Paths anyone may open: probes, the login and link pages, static files. Exact strings, so
# a path written another way (`//login`, `/Login`, `/login/`) is not open: it is protected.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})
OPEN_PREFIXES = ("/static/", "/link/")
GUARDED_ROUTES = ("/api/metrics", "/api/activity", "/api/alerts", "/api/viewer-links", "/metrics")
"""The ingest and viewer-link API (and paths under them), where the ingest guard checks the
token, and /metrics, where its own guard lets this machine or the metrics token in. Any
other `/api/` path needs a viewer, so an API added later is closed until placed here."""


class Access(Enum):
    """What a path needs."""

    open = "open"
    guarded = "guarded"  # a Litestar guard (the ingest token) decides
    page = "page"  # a viewer; without one, the browser is sent to /login
    viewer = "viewer"  # a viewer; without one, 401


def is_canonical(path: str) -> bool:
    """One way of writing a path: no empty, `.` or `..` segment, no trailing slash, no `%`
    left after the server's decoding (double encoding), no backslash."""
    if not path.startswith("/") or "%" in path or "\\" in path:
        return False
    if path == "/":
        return True
    return all(segment not in ("", ".", "..") for segment in path[1:].split("/"))


def access_of(path: str, stream_paths: Iterable[str]) -> Access:
    """Decide on the path as the server decoded it; anything unusual needs a viewer."""
    if path in OPEN_PATHS:
        return Access.open
    if not is_canonical(path):
        return Access.viewer
    if path == "/":
        return Access.page
    if path.startswith(OPEN_PREFIXES):
        return Access.open
    if path not in stream_paths and any(
        path == route or path.startswith(route + "/") for route in GUARDED_ROUTES
    ):
        return Access.guarded
    return Access.viewer


# --- the session cookie --------------------------------------------------------------


def session_key(settings: Settings) -> bytes:
    """The HMAC key of session cookies: from `LIVEDASH_SESSION_SECRET`, else stretched from the
    viewer password and ingest token (so changing either logs everyone out, and a cookie
    is no cheap oracle for guessing the password), else random for this process only."""
    if settings.session_secret:
        return hashlib.sha256(b"livedash session\0" + settings.session_secret.encode()).digest()
    material = f"{settings.viewer_password}\0{settings.ingest_token}".encode()
    if material == b"\0":
        return secrets.token_bytes(32)
    return hashlib.pbkdf2_hmac("sha256", material, b"livedash session", 100_000)


class SessionCodec:
    """`v1.<subject>.<expires>.<mac>`: who (the password, or a link by id) and until when."""

    def __init__(self, key: bytes, lifetime: float) -> None:
        self._key = key
        self.lifetime = lifetime

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, subject: str, now: float) -> str:
        """A cookie value for `subject` that expires `lifetime` seconds from `now`."""
        message = f"v1.{subject}.{int(now + self.lifetime)}"
        return f"{message}.{self._mac(message)}"

    def read(self, value: str, now: float) -> str | None:
        """The subject of a genuine, unexpired cookie; None for anything else."""
        message, _, mac = value.rpartition(".")
        version, _, rest = message.partition(".")
        subject, _, expires = rest.rpartition(".")
        if version != "v1" or not subject or not expires.isdigit():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(message).encode()):
            return None
        return subject if int(expires) > now else None


def cookie_value(headers: Iterable[tuple[bytes, bytes]], name: str = SESSION_COOKIE) -> str | None:
    """The named cookie from the request's `Cookie` headers (the last one wins)."""
    found = None
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie, sep, content = part.strip().partition("=")
                if sep and cookie == name:
                    found = content.strip().strip('"')
    return found


def set_cookie(value: str, max_age: int, secure: bool) -> str:
    """The `Set-Cookie` header value of a session (or, with `max_age` 0, its removal)."""
    flags = "; Secure" if secure else ""
    return f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{flags}"


def password_matches(given: str, expected: str) -> bool:
    """Constant-time over the digests, so neither the content nor the length leaks."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


# --- client addresses ----------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted(host: str, proxies: Sequence[Network] | None) -> bool:
    if proxies is None:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def client_key(host: str) -> str:
    """What limits count a client by: its address, or for IPv6 its /64, which one household
    or server gets whole (counting single addresses, it could open a stream from each)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Client(NamedTuple):
    """Where a request comes from, as far as we can believe it."""

    host: str
    proxied: bool
    """Its address is the one a trusted proxy appended to `X-Forwarded-For`."""
    trusted_peer: bool
    """The peer itself is a trusted proxy, so the headers it sets are believed."""


def client_of(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network] | None) -> Client:
    """The real peer, or, when it is a trusted proxy, the address that proxy appended.

    `X-Forwarded-For` is read from the right: each trusted proxy appends the address it saw,
    and whatever a client wrote itself stands to the left of those, so it is never taken.
    """
    host = peer or ""
    trusted = bool(host) and is_trusted(host, proxies)
    if not forwarded_for or not trusted:
        return Client(host, False, trusted)
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    while hops:
        host = hops.pop()
        if proxies is None or not is_trusted(host, proxies):
            break
    return Client(host, True, True)


# --- throttles and counters ------------------------------------------------------------


class LoginThrottle:
    """Wrong passwords per client: after `attempts` within `window` seconds, wait it out."""

    def __init__(self, attempts: int = 5, window: float = 300.0, clients: int = 10_000) -> None:
        self.attempts = attempts
        self.window = window
        self._clients = clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str, now: float) -> float | None:
        """Seconds until `client` may try again, or None if it may now."""
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.attempts:
            return None
        return failures[0] + self.window - now

    def failed(self, client: str, now: float) -> None:
        """Count a wrong password (the oldest client is forgotten past `clients`)."""
        failures = self._failures.setdefault(client, deque(maxlen=self.attempts))
        failures.append(now)
        self._failures.move_to_end(client)
        if len(self._failures) > self._clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """Forget the client's failures."""
        self._failures.pop(client, None)


class RateLimit:
    """A token bucket per key: `rate` a second on average, bursts of `2 * rate`."""

    def __init__(self, rate: float, keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._keys = keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float | None:
        """Take one token for `key`; None if there was one, else seconds until there is."""
        if self.rate <= 0:
            return None
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._keys:
            self._buckets.popitem(last=False)
        return None


class Refusal(NamedTuple):
    """Why a stream may not open: the status, and a message for the client."""

    status: int
    message: str


class StreamCounter:
    """Open streams per client address and in total, so no client can take every socket."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self.open = 0
        self._by_client: dict[str, int] = {}

    def acquire(self, client: str) -> Refusal | None:
        """Count a stream for `client`, or say why it may not open."""
        if self.open >= self.total:
            return Refusal(503, "too many open streams on this server; retry later")
        held = self._by_client.get(client, 0)
        if held >= self.per_client:
            return Refusal(429, f"too many open streams from your address (at most {self.per_client})")
        self._by_client[client] = held + 1
        self.open += 1
        return None

    def release(self, client: str) -> None:
        """One stream of `client` ended."""
        held = self._by_client.get(client, 0) - 1
        if held > 0:
            self._by_client[client] = held
        else:
            self._by_client.pop(client, None)
        self.open -= 1

    def held(self, client: str) -> int:
        """Streams `client` holds now."""
        return self._by_client.get(client, 0)

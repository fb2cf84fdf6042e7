"""Settings: one frozen struct, read from `LIVEDASH_*` environment variables.

Tests build their own `Settings(...)` and hand it to `create_app`, so nothing here is
read at import time.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

PREFIX = "LIVEDASH_"
DEFAULT_CONFIG = "dashboard.toml"
# A Redis URL may carry a password.
_SECRETS = ("ingest_token", "metrics_token", "redis_url", "viewer_password", "session_secret")
_LOOPBACK_NAMES = ("localhost", "ip6-localhost")


class SettingsError(ValueError):
    """A setting from the environment could not be used; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an operator can tune; each field is `LIVEDASH_<FIELD>` in the environment."""

    host: str = "127.0.0.1"
    """Interface `make run` binds to (`HOST` works too; the Procfile binds 0.0.0.0 itself)."""

    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    """Port `make run` serves on (`PORT` works too, as PaaS routers set it)."""

    ingest_token: str = ""
    """Bearer token the ingest API (and the viewer-link API) requires."""

    loopback_ingest: bool = False
    """Without a token, accept ingest from this machine (`make run` turns it on): off by
    default, because a proxy on the same machine makes every request look local."""

    viewer_password: str = ""
    """Turns on the login page: the board and its streams need the password (or a link)."""

    session_secret: str = ""
    """Key that signs session cookies; rotating it logs every browser out. Empty: derived
    from the viewer password and ingest token, so changing either does the same."""

    session_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 366)] = 168.0
    """How long a login (or a link's login) lasts before the browser must log in again."""

    trusted_user_header: str = ""
    """A header an SSO proxy sets (e.g. `X-Forwarded-Email`): a request that carries it from a
    peer in `FORWARDED_ALLOW_IPS` is logged in; from anyone else it is ignored."""

    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies (`FORWARDED_ALLOW_IPS`, as uvicorn names it) whose `X-Forwarded-For`,
    `X-Forwarded-Proto` and trusted user header are believed: comma-separated IPs or networks,
    or `*` for a PaaS router that is the only way in."""

    public: bool = False
    """Serve the board to anyone even when bound to a public interface."""

    allowed_hosts: str = ""
    """Comma-separated `Host` names served (`*.example.com` works); empty accepts any."""

    max_streams_per_ip: Annotated[int, msgspec.Meta(ge=1)] = 16
    """Open streams one client address may hold; more get 429."""

    max_streams: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    """Open streams in total (also capped by the process's file descriptors); more get 503."""

    ingest_rate: Annotated[float, msgspec.Meta(ge=0)] = 100.0
    """Ingest requests per second one credential may send (bursts of twice that); more get
    429. 0 turns the limit off."""

    frame_ancestors: Annotated[str, msgspec.Meta(pattern=r"^[^;,\r\n]+$")] = "'none'"
    """Who may embed the page in a frame (CSP `frame-ancestors`), e.g. `https://wall.example`."""

    hsts: bool = False
    """Send `Strict-Transport-Security` (only behind https, for a year)."""

    metrics_token: str = ""
    """Bearer token that lets a scraper off this machine read /metrics (loopback always may)."""

    demo: bool = True
    """Run the built-in demo source, so a fresh checkout shows live data. From the environment
    it is off by default once `LIVEDASH_INGEST_TOKEN` is set (a real deployment)."""

    demo_interval: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    """Seconds between two ticks of the demo source."""

    feed_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    """Activity items kept and shown, newest first."""

    replay_window: Annotated[int, msgspec.Meta(ge=10)] = 5000
    """Events kept for clients that resume with `Last-Event-ID`; older ids get a snapshot."""

    history_seconds: Annotated[int, msgspec.Meta(ge=900, le=31_536_000)] = 86400
    """Seconds of each card's history kept as 1 min roll-ups (the last 15 min are also kept
    per second); a card's `history` in the dashboard file overrides it."""

    heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0, le=55)] = 15.0
    """Longest silence on a stream; proxies drop idle connections after 55-100 s."""

    retry_ms: Annotated[int, msgspec.Meta(ge=0)] = 2000
    """Reconnection delay the `retry:` field asks browsers to wait."""

    flush_hz: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 10.0
    """Most writes per second to each stream: frames that come sooner wait and leave together
    in the next write, so a board where many cards change costs min(events, rate) writes per
    client; 0 writes every event at once."""

    client_buffer_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 65536
    """Bytes a stream may hold for a client that is not reading before it is dropped."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1_048_576
    """Largest ingest request body; larger ones get 413."""

    max_batch: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Most metric points one `POST /api/metrics` may carry."""

    max_metrics: Annotated[int, msgspec.Meta(ge=1)] = 500
    """Distinct metric names (cards) kept; a new name past it is refused, so a typo loop
    cannot grow the page and the process without bound."""

    max_alerts: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Alerts open at once; raising one more is refused until some resolve."""

    title: str = "livedash"
    """Title shown in the page header (the dashboard file's `title` wins)."""

    config: str = ""
    """The dashboard file (TOML: labels, units, sections, thresholds, staleness, alert rules);
    empty means none. From the environment it defaults to `dashboard.toml` in the working
    directory when that file exists; `LIVEDASH_CONFIG=` (empty) turns it off."""

    card_rate: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 4.0
    """Most updates per second each metric card sends (the newest value always arrives);
    0 sends every point."""

    db_path: str = "data/livedash.sqlite3"
    """SQLite file of the embedded backend (state and replay window survive restarts);
    empty keeps everything in memory only."""

    redis_url: str = ""
    """Redis for several processes or instances (`REDIS_URL` works too, as PaaS add-ons set it)."""

    redis_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "livedash"
    """Prefix of every Redis key, so several dashboards can share one Redis."""

    lease_seconds: Annotated[float, msgspec.Meta(ge=0.5, le=300)] = 10.0
    """Lifetime of the Redis lease that lets one process run the demo source; a dead holder is
    replaced after about this long."""

    web_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Worker processes (`WEB_CONCURRENCY`, as uvicorn and PaaS set it); more than one needs Redis."""

    heal_after_seconds: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 180.0
    """A page that has had no working stream this long reloads itself (once the server answers
    /healthz), then again after twice as long, up to an hour: a wall heals without a person."""

    dev: bool = False
    """Designer mode (`make dev`): templates reload on every request, Python reloads on change,
    and an open page reloads itself when a template, CSS or JS file changes. Never in production."""

    styleguide: bool = False
    """Serve /styleguide, every partial in every state, in production too (dev mode always does)."""

    @property
    def styleguide_on(self) -> bool:
        """Whether /styleguide is served."""
        return self.styleguide or self.dev

    def __repr__(self) -> str:
        # Settings get logged and shown in tracebacks: never with the token in them.
        fields = ", ".join(
            f"{name}={'***' if name in _SECRETS and value else repr(value)}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"Settings({fields})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `LIVEDASH_*` (and the PaaS's plain `PORT`), converting each to its field's type."""
        return cls.from_env_noting(environ)[0]

    @classmethod
    def from_env_noting(cls, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
        """`from_env`, and what was decided for the operator that they should hear about.

        A plain `WEB_CONCURRENCY` is what a PaaS buildpack sets by itself (Heroku and Scalingo
        size it to the dyno): without Redis it becomes one worker and a note says why, so a
        plain `git push` comes up. `LIVEDASH_WEB_CONCURRENCY` is an explicit request and
        is refused without Redis.
        """
        env = os.environ if environ is None else environ
        notes: list[str] = []
        raw: dict[str, Any] = {}
        source: dict[str, str] = {}  # field -> the variable it came from, for error messages
        # PaaS and `make run HOST=... PORT=...` conventions; LIVEDASH_* wins when both are set.
        for plain, field_name in (
            ("HOST", "host"),
            ("PORT", "port"),
            ("REDIS_URL", "redis_url"),
            ("WEB_CONCURRENCY", "web_concurrency"),
            ("FORWARDED_ALLOW_IPS", "forwarded_allow_ips"),
        ):
            if plain in env:
                raw[field_name], source[field_name] = env[plain], plain
        for field in msgspec.structs.fields(cls):
            key = PREFIX + field.name.upper()
            if key in env:
                raw[field.name], source[field.name] = env[key], key
        if "demo" not in raw and raw.get("ingest_token"):
            raw["demo"] = "0"  # a real deployment: the demo's numbers would mix with real ones
        if "config" not in raw and os.path.isfile(DEFAULT_CONFIG):
            raw["config"] = DEFAULT_CONFIG
        types = {field.name: field.type for field in msgspec.structs.fields(cls)}
        for name, value in raw.items():
            # One field at a time, so the error names the variable without reading msgspec's text.
            try:
                msgspec.convert(value, types[name], strict=False)
            except msgspec.ValidationError as exc:
                raise SettingsError(f"{source[name]}: {exc}") from None
        settings = msgspec.convert(raw, cls, strict=False)
        platform_set = source.get("web_concurrency") == "WEB_CONCURRENCY"
        if platform_set and settings.web_concurrency > 1 and not settings.redis_url:
            by = env.get("WEB_CONCURRENCY_SET_BY")
            notes.append(
                f"WEB_CONCURRENCY={settings.web_concurrency}"
                + (f" (set by {by})" if by else "")
                + ": running one worker, as several need a shared hub;"
                " set LIVEDASH_REDIS_URL (or REDIS_URL) to use them"
            )
            settings = msgspec.structs.replace(settings, web_concurrency=1)
        settings.check()
        return settings, notes

    def check(self) -> None:
        """Refuse a Redis URL redis-py cannot use, and combinations that would split the
        dashboard between processes."""
        if self.redis_url:
            url = urlsplit(self.redis_url)
            if url.scheme not in ("redis", "rediss", "unix") or not (url.hostname or url.path):
                raise SettingsError(
                    "LIVEDASH_REDIS_URL (or REDIS_URL): expected redis://[:password@]host[:port][/db],"
                    " rediss://... or unix:///path.sock"
                )
        if self.web_concurrency > 1 and not self.redis_url:
            raise SettingsError(
                f"LIVEDASH_WEB_CONCURRENCY={self.web_concurrency}: several workers need a shared hub;"
                " set LIVEDASH_REDIS_URL (or REDIS_URL), or run one worker"
            )
        try:
            _ = self.trusted_proxies
        except ValueError as exc:
            raise SettingsError(f"FORWARDED_ALLOW_IPS: {exc}") from None
        if self.trusted_user_header and self.forwarded_allow_ips.strip() == "*":
            raise SettingsError(
                "LIVEDASH_TRUSTED_USER_HEADER needs FORWARDED_ALLOW_IPS to name the SSO proxy's"
                " address, not '*': anyone could send the header"
            )
        if not is_loopback_host(self.host) and not self.protected and not self.public:
            raise SettingsError(
                f"HOST={self.host} is reachable from other machines and nothing protects the board:"
                " set LIVEDASH_VIEWER_PASSWORD, LIVEDASH_TRUSTED_USER_HEADER (behind an SSO proxy),"
                " or LIVEDASH_PUBLIC=1 to serve it to anyone"
            )

    @property
    def protected(self) -> bool:
        """Viewers must log in (a password or an SSO proxy's header)."""
        return bool(self.viewer_password or self.trusted_user_header)

    @property
    def trusted_proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
        """The networks of `forwarded_allow_ips`; None for `*` (every peer)."""
        items = [item.strip() for item in self.forwarded_allow_ips.split(",") if item.strip()]
        if "*" in items:
            return None
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)

    @property
    def allowed_host_list(self) -> list[str]:
        """`allowed_hosts` as Litestar's `AllowedHostsConfig` takes them."""
        return [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]


def is_loopback_host(host: str) -> bool:
    """True for an address (or name) only this machine can reach."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

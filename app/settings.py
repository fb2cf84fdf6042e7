"""Settings: one frozen struct, read from `LIVEDASH_*` environment variables.

Tests build their own `Settings(...)` and hand it to `create_app`, so nothing here is
read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

PREFIX = "LIVEDASH_"
DEFAULT_CONFIG = "dashboard.toml"
_SECRETS = ("ingest_token", "metrics_token", "redis_url")  # a Redis URL may carry a password


class SettingsError(ValueError):
    """A setting from the environment could not be used; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an operator can tune; each field is `LIVEDASH_<FIELD>` in the environment."""

    host: str = "127.0.0.1"
    """Interface `make run` binds to (`HOST` works too; the Procfile binds 0.0.0.0 itself)."""

    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    """Port `make run` serves on (`PORT` works too, as PaaS routers set it)."""

    ingest_token: str = ""
    """Bearer token the ingest API requires; empty means loopback clients only."""

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
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        source: dict[str, str] = {}  # field -> the variable it came from, for error messages
        # PaaS and `make run HOST=... PORT=...` conventions; LIVEDASH_* wins when both are set.
        for plain, field_name in (
            ("HOST", "host"),
            ("PORT", "port"),
            ("REDIS_URL", "redis_url"),
            ("WEB_CONCURRENCY", "web_concurrency"),
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
        settings.check()
        return settings

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
                f"WEB_CONCURRENCY={self.web_concurrency}: several workers need a shared hub;"
                " set LIVEDASH_REDIS_URL (or REDIS_URL), or run one worker"
            )

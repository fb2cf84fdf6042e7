"""`python -m app` (what `make run` and the Procfile run): serve on HOST:PORT.

Settings and the dashboard file are checked here, before uvicorn starts any worker, so a bad
one (or `LIVEDASH_WEB_CONCURRENCY` > 1 without Redis, or a public address with nothing
protecting the board) is one clear line and exit status 2, not a supervisor
restarting failing workers. The hub's storage is tried too (Redis answers, the SQLite file
opens), so an unreachable Redis or a corrupt file is one line and exit status 3.
"""

from __future__ import annotations

import sys

import redis
import uvicorn
from redis.exceptions import RedisError

from app.domain.board import BoardError, load_board
from app.hubs.sqlite import SqliteStore, StoreError
from app.settings import Settings, SettingsError

STARTUP_FAILURE = 3


def preflight(settings: Settings) -> str | None:
    """Why the hub's storage cannot be used, or None when it can."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0, socket_timeout=2.0)
        try:
            client.ping()
        except RedisError as exc:
            return f"cannot reach Redis at LIVEDASH_REDIS_URL (or REDIS_URL): {exc}"
        finally:
            client.close()
    elif settings.db_path:
        try:
            SqliteStore(settings.db_path, settings.replay_window).probe()
        except StoreError as exc:
            return str(exc)
    return None


def main() -> int:
    """Check the settings first, so a typo is one clear line, not a traceback."""
    try:
        settings, notes = Settings.from_env_noting()
        if settings.config:
            load_board(settings.config)  # a wrong dashboard file is one line too, naming the key
    except (SettingsError, BoardError) as exc:
        print(f"livedash: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"livedash: {note}", file=sys.stderr)
    problem = preflight(settings)
    if problem:
        print(f"livedash: {problem}", file=sys.stderr)
        return STARTUP_FAILURE
    workers = settings.web_concurrency
    print(
        f"livedash: serving on http://{settings.host}:{settings.port}"
        + (f" with {workers} workers" if workers > 1 else "")
        + (" in dev mode (reloads on changes)" if settings.dev else ""),
        file=sys.stderr,
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=1 if settings.dev else workers,
        # Dev mode: Python changes restart the server; templates and static files need no
        # restart (Jinja reloads them, and open pages refresh through their stream).
        reload=settings.dev,
        reload_dirs=["app"] if settings.dev else None,
        loop="uvloop",
        http="httptools",
        # The gate (app/web/gate.py) reads X-Forwarded-For itself, from the right, so a per-client
        # cap counts the address the trusted proxy appended, never one a client wrote.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

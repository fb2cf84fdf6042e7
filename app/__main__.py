"""`python -m app` (what `make run` and the Procfile run): serve on HOST:PORT.

Settings are checked here, before uvicorn starts any worker, so a bad one (or
`WEB_CONCURRENCY` > 1 without Redis) is one clear line and exit status 2, not a supervisor
restarting failing workers.
"""

from __future__ import annotations

import sys

import uvicorn

from app.settings import Settings, SettingsError


def main() -> int:
    """Check the settings first, so a typo is one clear line, not a traceback."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"livedash: {exc}", file=sys.stderr)
        return 2
    workers = settings.web_concurrency
    print(
        f"livedash: serving on http://{settings.host}:{settings.port}"
        + (f" with {workers} workers" if workers > 1 else ""),
        file=sys.stderr,
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m app` (what `make run` runs): serve on HOST:PORT with the Procfile's server options."""

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
    print(f"livedash: serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

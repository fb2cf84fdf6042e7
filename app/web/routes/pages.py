"""The page a person opens."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from app.service.dashboard import Dashboard


@get("/", cache_control=CacheControlHeader(no_store=True), sync_to_thread=False)
def index(dashboard: Dashboard, kiosk: bool = False) -> Template:
    """Render the dashboard as it is now; the stream URL carries the version rendered.

    `?kiosk=1` is the wall mode (no chrome, large type, everything on one screen); the
    stylesheet does the rest from the `kiosk` class on <html>.
    """
    state = dashboard.state
    return Template(
        "pages/dashboard.html",
        context={
            "title": dashboard.board.title or dashboard.settings.title,
            "board": dashboard.board,
            "heartbeat_ms": int(dashboard.settings.heartbeat_seconds * 1000),
            "heal_after_ms": int(dashboard.settings.heal_after_seconds * 1000),
            "state": state,
            "stream_url": "/dashboard/stream?"
            + urlencode({"lastEventId": state.version, "build": dashboard.streams.build}),
            "kiosk": kiosk,
        },
    )

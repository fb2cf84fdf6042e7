"""The page a person opens."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from app.service.dashboard import Dashboard


@get("/", cache_control=CacheControlHeader(no_store=True), sync_to_thread=False)
def index(dashboard: Dashboard) -> Template:
    """Render the dashboard as it is now; the stream URL carries the version rendered."""
    state = dashboard.state
    return Template(
        "pages/dashboard.html",
        context={
            "title": dashboard.board.title or dashboard.settings.title,
            "board": dashboard.board,
            "history": dashboard.history,
            "heartbeat_ms": int(dashboard.settings.heartbeat_seconds * 1000),
            "state": state,
            "stream_url": "/dashboard/stream?" + urlencode({"lastEventId": state.version}),
        },
    )

"""The page a person opens."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from app.hubs.base import HubUnavailable
from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.web.gate import VIEWER, Viewer


@get("/", cache_control=CacheControlHeader(no_store=True))
async def index(
    dashboard: Dashboard, viewers: Viewers, request: Request[Any, Any, Any], kiosk: bool = False
) -> Template:
    """Render the dashboard as it is now; the stream URL carries the version rendered.

    `?kiosk=1` is the wall mode (no chrome, large type, everything on one screen); the
    stylesheet does the rest from the `kiosk` class on <html>.
    """
    viewer: Viewer | None = request.scope.get("state", {}).get(VIEWER)
    if viewer is not None and viewer.link_id is not None:
        with contextlib.suppress(HubUnavailable):  # the page still shows; "last seen" waits
            await viewers.seen(viewer.link_id)
    state = dashboard.state
    return Template(
        "pages/dashboard.html",
        context={
            "title": dashboard.board.title or dashboard.settings.title,
            "board": dashboard.board,
            "history": dashboard.history,
            "heartbeat_ms": int(dashboard.settings.heartbeat_seconds * 1000),
            "heal_after_ms": int(dashboard.settings.heal_after_seconds * 1000),
            "state": state,
            "stream_url": "/dashboard/stream?"
            + urlencode({"lastEventId": state.version, "build": dashboard.streams.build}),
            "kiosk": kiosk,
            "can_log_out": viewer is not None and viewer.kind == "password",
        },
    )

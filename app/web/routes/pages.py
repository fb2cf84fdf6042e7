"""The page a person opens."""

from __future__ import annotations

import contextlib
from typing import Any

from litestar import Request, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from app.hubs.base import HubUnavailable
from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.web.gate import VIEWER, Viewer
from app.web.page_context import live_page_context


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
    context = live_page_context(dashboard)
    context.update(kiosk=kiosk, can_log_out=viewer is not None and viewer.kind == "password")
    return Template("pages/dashboard.html", context=context)

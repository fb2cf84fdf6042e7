"""What every page with a live stream renders from: one place, so the dashboard, a card's
detail page and the render benchmarks can never disagree on what the templates need."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.service.dashboard import Dashboard


def live_page_context(dashboard: Dashboard) -> dict[str, Any]:
    """The title, the board and its history, the live badge's timings, and the stream URL
    carrying the version rendered (and the build, so a page from an older deploy reloads)."""
    state = dashboard.state
    settings = dashboard.settings
    return {
        "title": dashboard.board.title or settings.title,
        "board": dashboard.board,
        "history": dashboard.history,
        "state": state,
        "heartbeat_ms": int(settings.heartbeat_seconds * 1000),
        "heal_after_ms": int(settings.heal_after_seconds * 1000),
        "stream_url": "/dashboard/stream?"
        + urlencode({"lastEventId": state.version, "build": dashboard.streams.build}),
    }

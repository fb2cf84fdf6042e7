"""Liveness for the PaaS router."""

from __future__ import annotations

import msgspec
from litestar import get

from app.dashboard import Dashboard


class Health(msgspec.Struct):
    """What `/healthz` reports."""

    status: str
    last_id: str
    streams: int


@get("/healthz", sync_to_thread=False)
def healthz(dashboard: Dashboard) -> Health:
    """200 while the process serves; with the newest event id and the open stream count."""
    return Health("ok", dashboard.state.version, dashboard.subscriber_count)

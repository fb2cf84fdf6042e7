"""`GET /metrics`: the Prometheus text format, for this process (see app/web/metrics.py)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import generate_latest

from app.web.auth import metrics_guard


@get("/metrics", sync_to_thread=False, include_in_schema=False, guards=[metrics_guard])
def metrics(state: State) -> Response[bytes]:
    """Every `livedash_*` series of this process, as Prometheus scrapes them."""
    # The classic text format, which every Prometheus reads; Litestar adds `; charset=utf-8`.
    return Response(generate_latest(state.metrics_registry), media_type="text/plain; version=0.0.4")

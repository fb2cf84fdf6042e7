"""Liveness (`/healthz`: the process serves) and readiness (`/readyz`: its hub works)."""

from __future__ import annotations

import re

import msgspec
from litestar import Response, get

from app.service.dashboard import Dashboard


class Health(msgspec.Struct):
    """What `/healthz` reports."""

    status: str
    last_id: str
    streams: int


@get("/healthz", sync_to_thread=False)
def healthz(dashboard: Dashboard) -> Health:
    """200 while the process serves; with the newest event id and the open stream count."""
    return Health("ok", dashboard.state.version, len(dashboard.streams))


_ADDRESS = re.compile(
    r"(?:(?<=connecting to )|(?<=reading from )|(?<=writing to ))\S+?(?=\.?(?:\s|$))|[\w.-]+:\d{2,5}\b"
)


def redact_hosts(text: str) -> str:
    """`text` without host names or addresses (a Redis error names its server's): clients
    learn what is wrong, not where the infrastructure lives. The log keeps the full text."""
    return _ADDRESS.sub("<host>", text)


class Ready(msgspec.Struct):
    """What `/readyz` reports."""

    status: str
    backend: str
    reason: str | None
    producer: bool
    """This process holds the lease to run the once-per-deployment producers (demo source)."""


@get("/readyz", sync_to_thread=False)
def readyz(dashboard: Dashboard) -> Response[Ready]:
    """200 while the hub takes events; 503 with the reason (e.g. Redis unreachable) otherwise.

    A load balancer may send new clients elsewhere on 503; the page and open streams of this
    process keep working from the last known state meanwhile.
    """
    problem = dashboard.hub.problem
    reason = redact_hosts(problem) if problem else None
    ready = Ready("unavailable" if problem else "ready", dashboard.hub.kind, reason, dashboard.producer)
    return Response(ready, status_code=503 if problem else 200)

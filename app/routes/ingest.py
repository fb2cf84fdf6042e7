"""The authenticated JSON ingest API. Bodies are validated whole before anything is applied."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, delete, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from app.auth import ingest_guard
from app.dashboard import Dashboard, LimitReached, UnknownAlert
from app.model import NAME_PATTERN, ActivityIn, AlertIn, MetricPoint
from app.validation import bad_input, strict_body


class Accepted(msgspec.Struct):
    """What an ingest call recorded: how many events, and the id of the last."""

    accepted: int
    last_id: str


@post("/metrics", status_code=202, sync_to_thread=False, before_request=strict_body(list[MetricPoint]))
def post_metrics(data: list[MetricPoint], dashboard: Dashboard) -> Accepted:
    """Record a batch of metric readings (`[{"name", "value", "ts"?}]`)."""
    if not data:
        raise bad_input("body: expected at least one metric point", None)
    if len(data) > dashboard.settings.max_batch:
        raise bad_input(f"body: at most {dashboard.settings.max_batch} metric points per request", None)
    try:
        ids = dashboard.add_metrics(data)
    except LimitReached as exc:
        raise bad_input(f"{exc.field}: {exc}", exc.field) from None
    return Accepted(len(ids), ids[-1])


@post("/activity", status_code=202, sync_to_thread=False, before_request=strict_body(ActivityIn))
def post_activity(data: ActivityIn, dashboard: Dashboard) -> Accepted:
    """Add a line to the activity feed."""
    return Accepted(1, dashboard.add_activity(data))


@post("/alerts", status_code=202, sync_to_thread=False, before_request=strict_body(AlertIn))
def post_alert(data: AlertIn, dashboard: Dashboard) -> Accepted:
    """Raise an alert banner, or replace the open one with the same id."""
    try:
        return Accepted(1, dashboard.raise_alert(data))
    except LimitReached as exc:
        raise bad_input(f"{exc.field}: {exc}", exc.field) from None


@delete("/alerts/{alert_id:str}", status_code=200, sync_to_thread=False)
def delete_alert(dashboard: Dashboard, alert_id: Annotated[str, Parameter(pattern=NAME_PATTERN)]) -> Accepted:
    """Resolve an open alert; 404 if none is open by that id."""
    try:
        return Accepted(1, dashboard.resolve_alert(alert_id))
    except UnknownAlert:
        raise NotFoundException(f"alert_id: no open alert {alert_id!r}") from None


ingest_router = Router(
    "/api",
    route_handlers=[post_metrics, post_activity, post_alert, delete_alert],
    guards=[ingest_guard],
    tags=["ingest"],
)

"""The authenticated JSON ingest API. Bodies are validated whole before anything is applied."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, delete, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from app.domain.model import NAME_PATTERN, ActivityIn, AlertIn, MetricPoint
from app.service.dashboard import Dashboard, UnknownAlert, UnknownMetric
from app.service.limits import LimitReached
from app.web.auth import ingest_guard
from app.web.validation import bad_input, strict_body


class Accepted(msgspec.Struct):
    """What an ingest call recorded: how many items, and the id of the last event published.

    Metric points for a card that updated within the last `1/LIVEDASH_CARD_RATE` s are
    `held`: accepted, and sent (the newest per card) when the card may update again.
    """

    accepted: int
    last_id: str | None
    held: int = 0


@post("/metrics", status_code=202, before_request=strict_body(list[MetricPoint]))
async def post_metrics(data: list[MetricPoint], dashboard: Dashboard) -> Accepted:
    """Record a batch of metric readings (`[{"name", "value", "ts"?}]`)."""
    if not data:
        raise bad_input("body: expected at least one metric point", None)
    if len(data) > dashboard.settings.max_batch:
        raise bad_input(f"body: at most {dashboard.settings.max_batch} metric points per request", None)
    try:
        ids = await dashboard.add_metrics(data)
    except LimitReached as exc:
        raise bad_input(f"{exc.field}: {exc}", exc.field) from None
    return Accepted(len(data), ids[-1] if ids else None, len(data) - len(ids))


@post("/activity", status_code=202, before_request=strict_body(ActivityIn))
async def post_activity(data: ActivityIn, dashboard: Dashboard) -> Accepted:
    """Add a line to the activity feed."""
    return Accepted(1, await dashboard.add_activity(data))


@post("/alerts", status_code=202, before_request=strict_body(AlertIn))
async def post_alert(data: AlertIn, dashboard: Dashboard) -> Accepted:
    """Raise an alert banner, or replace the open one with the same id."""
    try:
        return Accepted(1, await dashboard.raise_alert(data))
    except LimitReached as exc:
        raise bad_input(f"{exc.field}: {exc}", exc.field) from None


@delete("/alerts/{alert_id:str}", status_code=200)
async def delete_alert(
    dashboard: Dashboard, alert_id: Annotated[str, Parameter(pattern=NAME_PATTERN)]
) -> Accepted:
    """Resolve an open alert; 404 if none is open by that id."""
    try:
        return Accepted(1, await dashboard.resolve_alert(alert_id))
    except UnknownAlert:
        raise NotFoundException(f"alert_id: no open alert {alert_id!r}") from None


@delete("/metrics/{name:str}", status_code=200)
async def delete_metric(
    dashboard: Dashboard, name: Annotated[str, Parameter(pattern=NAME_PATTERN)]
) -> Accepted:
    """Remove a card everywhere, live; 404 if there is no card by that name."""
    try:
        return Accepted(1, await dashboard.remove_metric(name))
    except UnknownMetric:
        raise NotFoundException(f"name: no metric {name!r}") from None


ingest_router = Router(
    "/api",
    route_handlers=[post_metrics, post_activity, post_alert, delete_alert, delete_metric],
    guards=[ingest_guard],
    tags=["ingest"],
)

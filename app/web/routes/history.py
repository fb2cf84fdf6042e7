"""A card's history: the detail page a person opens, its live chart, and the API for programs.

All three read the dashboard's in-memory history (app/domain/history.py), which every
process folds from the same events and the hub restores at start, so any process answers
the same, and a freshly opened page draws the whole range at once.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Template

from app.domain.history import RANGES, Columns, draw
from app.domain.model import NAME_PATTERN
from app.service.dashboard import Dashboard
from app.web.page_context import live_page_context
from app.web.validation import bad_input

CHART_WIDTH, CHART_HEIGHT, CHART_POINTS = 600, 200, 300
"""The detail chart's viewBox, and at most this many points drawn (downsampled past it)."""

RangeName = Annotated[
    str,
    Parameter(
        query="range",
        description=f"How far back from the card's newest point: one of {', '.join(RANGES)}.",
    ),
]
Name = Annotated[str, Parameter(pattern=NAME_PATTERN, description="The metric (card) name.")]


class HistoryOut(msgspec.Struct):
    """A card's history over a range, oldest first.

    Each point is `[ts, min, max, last]`: the start of its second (ranges up to 15m) or of its
    1 min bucket (longer ranges), in Unix seconds, and the values that fell in it.
    """

    metric: str
    range: str
    points: list[tuple[int, float, float, float]]


def _seconds(range_name: str) -> int:
    seconds = RANGES.get(range_name)
    if seconds is None:
        raise bad_input(f"range: expected one of {', '.join(RANGES)}, got {range_name[:20]!r}", "range")
    return seconds


def _known(dashboard: Dashboard, name: str) -> None:
    """404 unless `name` has a card (a value, a place in the dashboard file, or history)."""
    known = name in dashboard.state.metrics or name in dashboard.history.series
    if not known and name not in dashboard.board.placed():
        raise NotFoundException(f"name: no metric {name!r}")


@get("/api/metrics/{name:str}/history", sync_to_thread=False, tags=["history"])
def metric_history(dashboard: Dashboard, name: Name, range_name: RangeName = "15m") -> HistoryOut:
    """The history of one card over `range`; 404 for an unknown card, 400 for a bad range."""
    seconds = _seconds(range_name)
    _known(dashboard, name)
    points = dashboard.history.points(name, seconds)
    return HistoryOut(name, range_name, [(p.ts, p.min, p.max, p.last) for p in points])


def chart_context(dashboard: Dashboard, name: str, range_name: str) -> dict[str, object]:
    """What `partials/card_chart.html` draws, shared by the page and the fragment it re-fetches
    (and by bench/detail_render.py), so both render the very same chart; 400 for a bad range."""
    card = dashboard.board.card(name)
    series = dashboard.history.series.get(name)
    columns = series.columns(_seconds(range_name)) if series else Columns([], [], [], [])
    drawn = draw(
        columns, CHART_WIDTH, CHART_HEIGHT, card.warn, card.crit, card.bad, limit=CHART_POINTS, area=True
    )
    return {"name": name, "card": card, "range": range_name, "ranges": list(RANGES), "chart": drawn}


@get(
    "/cards/{name:str}",
    cache_control=CacheControlHeader(no_store=True),
    sync_to_thread=False,
    include_in_schema=False,
)
def card_page(dashboard: Dashboard, name: Name, range_name: RangeName = "15m") -> Template:
    """A card's detail page: its chart over a range, the figures beside it, updating live."""
    context = chart_context(dashboard, name, range_name)
    _known(dashboard, name)
    context.update(live_page_context(dashboard), metric=dashboard.state.metrics.get(name))
    return Template("pages/card.html", context=context)


@get(
    "/cards/{name:str}/chart",
    cache_control=CacheControlHeader(no_store=True),
    sync_to_thread=False,
    include_in_schema=False,
)
def card_chart(dashboard: Dashboard, name: Name, range_name: RangeName = "15m") -> Template:
    """The detail chart alone: the page fetches it again when the card's event arrives."""
    context = chart_context(dashboard, name, range_name)
    _known(dashboard, name)
    return Template("partials/card_chart.html", context=context)

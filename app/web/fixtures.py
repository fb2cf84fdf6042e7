"""The style guide's fixtures: every partial in every state, as data.

The /styleguide page renders these through the real partials, and a browser test walks the
same list (screenshots at desktop and phone sizes, and each state's exact markers), so a new
state added here is shown and tested at once. Names are the cards' ids: each is unique on the
page. Sparklines are not part of the cards yet, so no example shows one.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from app.domain.board import Board, Card
from app.domain.model import ActivityAdded, AlertRaised, Level, Severity
from app.domain.state import MetricValue

TS = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: fixed, so every render is the same
LONG_LABEL = "Checkout latency at the 95th percentile for signed-in customers in every region"[:80]
LONG_TEXT = (
    "Payments provider answers slowly: https://status.example.com/incidents/2026-01-01/"
    "checkout-latency-eu-west-1?utm_source=livedash " + "retries are piling up; " * 20
)

Wrap = Literal["grid", "alerts", "feed"]


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """One state of one partial: its element's id on the page, a caption, the partial and its context."""

    id: str
    title: str
    template: str
    context: dict[str, Any]
    expect: dict[str, str] = {}
    """Attributes the rendered root element has in this state (what the browser test checks)."""


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """Examples of one partial, shown in the container that partial lands in on the page."""

    id: str
    title: str
    wrap: Wrap
    examples: list[Example]


BOARD = Board(
    cards={
        "sg_ok": Card(label="Requests per second", warn=100, crit=200),
        "sg_warning": Card(label="Requests per second", warn=100, crit=200),
        "sg_critical": Card(label="Requests per second", warn=100, crit=200),
        "sg_stale": Card(label="Queue depth", stale_after=60),
        "sg_no_data": Card(label="Orders today"),
        "sg_huge": Card(label="Revenue", unit="USD"),
        "sg_huge_bytes": Card(label="Egress", format="bytes"),
        "sg_tiny": Card(label="Error ratio"),
        "sg_negative": Card(label="Net change"),
        "sg_percent": Card(label="Cache hit ratio", format="percent", bad="low", warn=0.9, crit=0.8),
        "sg_duration": Card(label="p95 latency", format="duration"),
        "sg_long_label": Card(label=LONG_LABEL, unit="ms"),
    }
)


def _card(name: str, value: float | None, *, previous: float | None = None, stale: bool = False) -> Example:
    metric = None if value is None else MetricValue(name, value, TS, previous, stale)
    state = BOARD.card(name).state(value, stale if value is not None else True)
    return Example(
        id=f"metric-{name}",
        title=name.removeprefix("sg_").replace("_", " "),
        template="partials/metric_card.html",
        context={"metric": metric, "name": name, "board": BOARD},
        expect={"data-state": str(state)},
    )


def _alert(key: str, severity: Severity, title: str, message: str | None) -> Example:
    return Example(
        id=f"alert-{key}",
        title=f"{severity.value} alert" + (", long text" if len(title) > 100 else ""),
        template="partials/alert_banner.html",
        context={"alert": AlertRaised(key, severity, title, message, TS)},
        expect={"class": f"alert alert--{severity.value} {severity.value}"},
    )


def _activity(key: str, level: Level, message: str, actor: str | None) -> Example:
    return Example(
        id=f"activity-{key}",
        title=f"{level.value} activity" + ("" if actor else ", no actor"),
        template="partials/activity_item.html",
        context={"item": ActivityAdded(key, message, actor, level, TS)},
        expect={"class": f"feed__item feed__item--{level.value}"},
    )


GROUPS: list[Group] = [
    Group(
        id="cards",
        title="Metric cards: states",
        wrap="grid",
        examples=[
            _card("sg_ok", 42, previous=40),
            _card("sg_warning", 150, previous=160),
            _card("sg_critical", 250, previous=250),
            _card("sg_stale", 17, stale=True),
            _card("sg_no_data", None),
        ],
    ),
    Group(
        id="values",
        title="Metric cards: values",
        wrap="grid",
        examples=[
            _card("sg_huge", 234_340_000),
            _card("sg_huge_bytes", 1.7e15),
            _card("sg_tiny", 0.000123),
            _card("sg_negative", -1_234.5, previous=10),
            _card("sg_percent", 0.853),
            _card("sg_duration", 0.3125),
            _card("sg_long_label", 1234.5),
        ],
    ),
    Group(
        id="alerts",
        title="Alert banners",
        wrap="alerts",
        examples=[
            _alert("sg-info", Severity.info, "Deploy of web@4821 in progress", "Expect a short reconnect."),
            _alert("sg-warning", Severity.warning, "p95 latency above 300 ms", None),
            _alert("sg-critical", Severity.critical, "Checkout is down", "Payments fail for every card."),
            _alert("sg-long", Severity.critical, ("Payments provider degraded " * 8).strip(), LONG_TEXT),
        ],
    ),
    Group(
        id="activity",
        title="Activity feed items",
        wrap="feed",
        examples=[
            _activity("sg-info", Level.info, "exported a CSV report", "grace"),
            _activity("sg-success", Level.success, "signed up from the pricing page", "ada"),
            _activity("sg-warning", Level.warning, "opened a support ticket", "margaret"),
            _activity("sg-error", Level.error, "payment failed, retrying", None),
            _activity("sg-long", Level.info, LONG_TEXT, "a-very-long-actor-name-" * 2),
        ],
    ),
]

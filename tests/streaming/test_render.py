"""Formatting helpers and partials: what templates may show, and that user text is escaped."""

from __future__ import annotations

import pytest

from app.domain.model import ActivityAdded, AlertRaised, Level, Severity
from app.domain.state import MetricValue
from app.streaming.render import Renderer, label, pretty_number, raw_number, static_url


@pytest.mark.parametrize(
    ("value", "raw", "pretty"),
    [
        (1234.0, "1234", "1,234"),
        (0.5, "0.5", "0.5"),
        (12.345, "12.345", "12.35"),
        (-3.0, "-3", "-3"),
        (2_500_000.0, "2500000", "2.50M"),
        (0.0, "0", "0"),
        (1e14, "100000000000000", "100.00T"),
        (1.7e308, "1.7e+308", "1.7e+308"),
    ],
)
def test_numbers_read_raw_as_data_and_pretty_on_the_card(value: float, raw: str, pretty: str) -> None:
    assert raw_number(value) == raw
    assert pretty_number(value) == pretty


def test_label_turns_a_metric_name_into_words() -> None:
    assert label("p95_latency_ms") == "P95 latency ms"
    assert label("api.requests-total") == "Api requests total"


def test_static_url_carries_a_content_hash_and_refuses_escapes() -> None:
    assert static_url("livedash.css").startswith("/static/livedash.css?v=")
    with pytest.raises(FileNotFoundError):
        static_url("../app/main.py")


def test_partials_escape_everything_a_user_sends(renderer: Renderer) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    item = ActivityAdded("k1", hostile, hostile, Level.warning, 0.0)
    html = renderer.render("partials/activity_item.html", item=item)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    alert = AlertRaised("a1", Severity.critical, hostile, hostile, 0.0)
    html = renderer.render("partials/alert_banner.html", alert=alert)
    assert "<script>" not in html and "<img" not in html
    assert 'id="alert-a1"' in html and "critical" in html and 'role="alert"' in html


def test_metric_card_carries_the_id_value_swap_name_and_trend_the_page_uses(renderer: Renderer) -> None:
    html = renderer.render("partials/metric_card.html", metric=MetricValue("cpu", 0.25, 0.0, 0.5))
    assert 'id="metric-cpu"' in html
    assert 'data-value="0.25"' in html
    assert 'sse-swap="metric-cpu"' in html
    assert 'data-trend="down"' in html

"""Validation of ingest bodies, and the error messages that name the field."""

from __future__ import annotations

import msgspec
import pytest

from app.domain.model import ActivityIn, AlertIn, MetricPoint, Severity
from app.web.validation import describe


def decode_points(raw: bytes) -> list[MetricPoint]:
    return msgspec.json.decode(raw, type=list[MetricPoint])


def test_valid_points_decode() -> None:
    points = decode_points(
        b'[{"name": "page_views", "value": 3}, {"name": "a.b-c_1", "value": 1.5, "ts": 9}]'
    )
    assert [(p.name, p.value, p.ts) for p in points] == [("page_views", 3.0, None), ("a.b-c_1", 1.5, 9.0)]


@pytest.mark.parametrize("name", ["", "Bad", "a b", "a/b", "x" * 65, "é", "<script>", "a\n", "\na", "a\r"])
def test_metric_names_outside_the_pattern_are_refused(name: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        decode_points(msgspec.json.encode([{"name": name, "value": 1}]))
    assert describe(str(info.value))[1] == "name"


def test_non_finite_values_are_refused_by_name() -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert([{"name": "x", "value": float("inf")}], list[MetricPoint])
    message, field = describe(str(info.value))
    assert field == "value"
    assert "finite" in message


def test_text_limits() -> None:
    with pytest.raises(msgspec.ValidationError, match="length <= 500"):
        msgspec.convert({"message": "x" * 501}, ActivityIn)
    with pytest.raises(msgspec.ValidationError, match="length >= 1"):
        msgspec.convert({"message": ""}, ActivityIn)
    with pytest.raises(msgspec.ValidationError, match="length <= 200"):
        msgspec.convert({"id": "a", "severity": "info", "title": "t" * 201}, AlertIn)


def test_unknown_severity_and_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"id": "a", "severity": "loud", "title": "t"}, AlertIn)
    assert describe(str(info.value)) == ("severity: Invalid enum value 'loud' (at $.severity)", "severity")
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"message": "m", "colour": "red"}, ActivityIn)
    assert describe(str(info.value))[1] == "colour"
    assert (
        msgspec.convert({"id": "a", "severity": "critical", "title": "t"}, AlertIn).severity
        is Severity.critical
    )


def test_alert_ids_of_the_rules_are_refused_from_the_api_naming_id() -> None:
    """So a rule never replaces or resolves an alert a person or program raised."""
    body = b'{"id": "rule-p95", "severity": "warning", "title": "slow"}'
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.json.decode(body, type=AlertIn)
    assert str(refused.value) == "`id` must not start with 'rule-': those are the alert rules' own"

"""Validation of ingest bodies, and the error messages that name the field."""

from __future__ import annotations

import msgspec
import pytest
from litestar.exceptions import ValidationException

from app.domain.model import ActivityIn, AlertIn, MetricPoint, Severity
from app.web.validation import decode, describe, non_finite_path


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


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Expected `str` - at `$[0].name`", ("name: Expected `str` (at $[0].name)", "name")),
        ("Object missing required field `value` - at `$[1]`", None),
        ("Expected `array`, got `object`", ("body: Expected `array`, got `object`", None)),
        ("`value` must be a finite number - at `$[2]`", None),
    ],
)
def test_describe_names_the_field(message: str, expected: tuple[str, str | None] | None) -> None:
    text, field = describe(message)
    if expected is not None:
        assert (text, field) == expected
    else:
        assert field == "value"
        assert text.startswith("value: ")


def test_non_finite_path_finds_the_first_infinite_number() -> None:
    assert non_finite_path([{"name": "a", "value": 1}, {"name": "b", "value": float("-inf")}]) == "$[1].value"
    assert non_finite_path({"a": [1, 2]}) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'[{"name": "a", "value": "12"}]', "value"),  # no lenient string-to-number
        (b'[{"name": "a", "value": 1, "ts": "1700000000"}]', "ts"),
        (b'[{"name": "a", "value": 1}, {"name": "b", "value": -1e999}]', "value"),
        (b"[" * 3000 + b"]" * 3000, "body"),
        (b'[{"name": "\xff", "value": 1}]', "body"),
        (b"{", "body"),
    ],
)
def test_decode_is_strict_and_names_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ValidationException) as info:
        decode(raw, list[MetricPoint])
    assert str(info.value.detail).startswith(f"{field}: ")
    assert info.value.extra == [{"message": info.value.detail, "key": field, "source": "body"}]

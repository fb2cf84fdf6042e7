"""Ingest bodies are decoded strictly, and every refusal names the field."""

from __future__ import annotations

import msgspec
import pytest
from litestar.exceptions import ValidationException

from app.domain.model import ActivityIn, MetricPoint
from app.web.validation import decode, describe, non_finite_path


@pytest.mark.parametrize(
    ("raw", "type_", "message", "described"),
    [
        (
            b'[{"name": 1, "value": 1}]',
            list[MetricPoint],
            "Expected `str`, got `int` - at `$[0].name`",
            ("name: Expected `str`, got `int` (at $[0].name)", "name"),
        ),
        (
            b'[{"name": "a"}]',
            list[MetricPoint],
            "Object missing required field `value` - at `$[0]`",
            ("value: Object missing required field `value` (at $[0])", "value"),
        ),
        (
            b'[{"name": "A", "value": 1}]',
            list[MetricPoint],
            "Expected `str` matching regex '^[a-z0-9_.-]{1,64}(?!\\\\n)$' - at `$[0].name`",
            ("name: must be 1 to 64 of a-z, 0-9, '_', '.', '-' (at $[0].name)", "name"),
        ),
        (
            b'[{"name": "a", "value": 1e400}]',
            list[MetricPoint],
            "Number out of range - at `$[0].value`",
            ("value: Number out of range (at $[0].value)", "value"),
        ),
        (
            b'{"message": "m", "colour": "red"}',
            ActivityIn,
            "Object contains unknown field `colour`",
            ("colour: Object contains unknown field `colour`", "colour"),
        ),
    ],
)
def test_msgspec_messages_are_pinned_for_the_version_we_allow(
    raw: bytes, type_: object, message: str, described: tuple[str, str]
) -> None:
    """`describe` reads msgspec's text: an upgrade that rewords it fails here, not in production."""
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.json.decode(raw, type=type_)
    assert str(info.value) == message
    assert describe(message) == described


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

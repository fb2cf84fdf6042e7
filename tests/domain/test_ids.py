from __future__ import annotations

import pytest

from app.domain.ids import IdError, format_id, id_key, is_newer, parse_id


def test_an_id_round_trips_through_its_integer_pair() -> None:
    assert format_id(1_700_000_000_000, 7) == "1700000000000-7"
    assert id_key("1700000000000-7") == (1_700_000_000_000, 7)


def test_ids_order_as_integer_pairs_not_as_text() -> None:
    assert is_newer("5-10", "5-9") is True  # as text, "5-10" < "5-9"
    assert is_newer("10-0", "9-99") is True
    assert is_newer("5-9", "5-9") is False
    assert is_newer("5-9", "5-10") is False


@pytest.mark.parametrize("text", ["", "5", "5-", "-5", "a-1", "1-1-1", "1-٣", "1" * 20 + "-1", " 1-1"])
def test_anything_else_is_not_an_id(text: str) -> None:
    with pytest.raises(IdError):
        id_key(text)
    assert parse_id(text) is None
    assert is_newer(text, "0-0") is False
    assert is_newer("1-1", text) is False

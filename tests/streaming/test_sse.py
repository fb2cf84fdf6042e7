"""SSE frames as the WHATWG parser reads them: no payload can forge a field or end a frame early."""

from __future__ import annotations

import pytest

from app.streaming import sse
from tests.support.sse_client import Parser


def test_a_one_line_frame_is_its_fields_then_a_blank_line() -> None:
    assert sse.frame("hello", event="greet", id="1-1") == b"event: greet\nid: 1-1\ndata: hello\n\n"


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_every_kind_of_line_break_gets_its_own_data_line(newline: str) -> None:
    payload = f"one{newline}two{newline}{newline}three"
    encoded = sse.frame(payload, event="x", id="1-2")
    assert encoded.count(b"data: ") == 4
    assert b"\r" not in encoded
    events = Parser().feed(encoded.decode())
    assert [(e.event, e.data, e.id) for e in events] == [("x", "one\ntwo\n\nthree", "1-2")]


def test_payload_cannot_forge_fields_or_end_the_frame() -> None:
    hostile = "x\n\nevent: alert\nid: 999\ndata: forged\r\rretry: 1\r\n"
    events = Parser().feed(sse.frame(hostile, event="activity", id="5-5").decode())
    assert len(events) == 1
    assert events[0].event == "activity"
    assert events[0].id == "5-5"
    assert events[0].data == hostile.replace("\r\n", "\n").replace("\r", "\n")


def test_leading_space_of_a_line_survives() -> None:
    events = Parser().feed(sse.frame("  indented\n x").decode())
    assert events[0].data == "  indented\n x"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_event_and_id_refuse_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        sse.frame("d", event=bad)
    with pytest.raises(ValueError, match="must not contain"):
        sse.frame("d", id=bad)


def test_preamble_sets_retry_and_dispatches_nothing() -> None:
    parser = Parser()
    assert parser.feed(sse.preamble(2500).decode()) == []
    assert parser.retry == 2500
    assert parser.comments == ["livedash"]


def test_empty_data_still_dispatches_one_empty_line() -> None:
    assert sse.frame("", event="e") == b"event: e\ndata: \n\n"

"""The open streams of a process: what a client opens with, what each format is sent, and shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.domain.events import Change, Entry, Event
from app.domain.model import ActivityAdded, Level, MetricUpdated
from app.domain.state import DashboardState
from app.streaming import sse
from app.streaming.fanout import Closed
from app.streaming.frames import FrameEncoder
from app.streaming.render import Renderer
from app.streaming.streams import StreamFormat, Streams, frames_of
from tests.support.fakes import FakeConnection, FakeEventLog

pytestmark = pytest.mark.anyio

RETRY_MS = 1500
PREAMBLE = sse.preamble(RETRY_MS)
HTML, JSON = StreamFormat.html, StreamFormat.json


def entry(event_id: str, key: str | None = None) -> Entry:
    return Entry(event_id, f"html {event_id}\n\n".encode(), f"json {event_id}\n\n".encode(), key)


def make_streams(
    renderer: Renderer, log: FakeEventLog | None = None, window: int = 10, build: str = ""
) -> Streams:
    state = DashboardState(5)
    state.version = "7-0"
    streams = Streams(
        state,
        FrameEncoder(renderer),
        log or FakeEventLog(),
        window=window,
        client_buffer=4096,
        retry_ms=RETRY_MS,
        build=build,
    )
    streams.restore([], "7-0")
    return streams


def test_frames_of_picks_each_formats_bytes_and_keeps_the_conflation_keys() -> None:
    entries = [entry("7-1", key="cpu"), entry("7-2")]
    assert frames_of(entries, HTML).parts == [("cpu", b"html 7-1\n\n"), (None, b"html 7-2\n\n")]
    assert frames_of(entries, JSON).parts == [("cpu", b"json 7-1\n\n"), (None, b"json 7-2\n\n")]


async def test_a_new_client_gets_the_preamble_and_the_snapshot_in_one_write(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    snapshot = streams.snapshot()
    page, program = FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, page.send, None)
    await streams.subscribe(JSON, program.send, None)
    assert page.written == [PREAMBLE + snapshot.html]
    assert program.written == [PREAMBLE + snapshot.json]
    assert [(e.event, e.id) for e in page.events] == [("snapshot", "7-0")]
    assert len(streams) == 2


async def test_the_opening_is_framed_once_per_state_version(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    first, second, third = FakeConnection(), FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, first.send, None)
    await streams.subscribe(HTML, second.send, None)
    assert second.written[0] is first.written[0]
    streams.state.apply(MetricUpdated("cpu", 1.0, 1.0))
    streams.state.version = "7-1"
    await streams.subscribe(HTML, third.send, None)
    assert third.written[0] is not first.written[0]
    assert [(e.event, e.id) for e in third.events] == [("snapshot", "7-1")]
    assert 'id="metric-cpu"' in third.events[0].data


async def test_a_resuming_client_gets_the_preamble_and_what_it_missed_in_its_format(
    renderer: Renderer,
) -> None:
    streams = make_streams(renderer)
    streams.publish([entry("7-1"), entry("7-2"), entry("7-3")])
    page, program = FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, page.send, "7-1")
    await streams.subscribe(JSON, program.send, "7-1")
    assert page.written == [PREAMBLE + b"html 7-2\n\nhtml 7-3\n\n"]
    assert program.written == [PREAMBLE + b"json 7-2\n\njson 7-3\n\n"]


async def test_a_client_with_the_newest_id_gets_only_the_preamble(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    streams.publish([entry("7-1")])
    streams.state.version = "7-1"
    conn = FakeConnection()
    await streams.subscribe(HTML, conn.send, "7-1")
    assert conn.written == [PREAMBLE]


async def test_only_a_page_rendered_by_another_build_is_told_the_running_one(renderer: Renderer) -> None:
    streams = make_streams(renderer, build="b2")
    streams.publish([entry("7-1")])
    old_page, current_page, program, resuming_old = (FakeConnection() for _ in range(4))
    await streams.subscribe(HTML, old_page.send, None, "b1")
    await streams.subscribe(HTML, current_page.send, None, "b2")
    await streams.subscribe(JSON, program.send, None)
    await streams.subscribe(HTML, resuming_old.send, "7-0", "b1")
    snapshot = streams.snapshot()
    assert old_page.written == [sse.frame("b2", event="build") + PREAMBLE + snapshot.html]
    assert current_page.written == [PREAMBLE + snapshot.html]
    assert program.written == [PREAMBLE + snapshot.json]
    assert resuming_old.written == [PREAMBLE + sse.frame("b2", event="build") + b"html 7-1\n\n"]


async def test_a_dev_signal_reaches_page_streams_only(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    page, program = FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, page.send, "7-0")
    await streams.subscribe(JSON, program.send, "7-0")
    streams.signal("dev-reload")
    await asyncio.sleep(0)
    assert page.written == [PREAMBLE, b"event: dev-reload\ndata: \n\n"]
    assert program.written == [PREAMBLE]


async def test_an_id_older_than_the_window_gets_the_hubs_past_encoded_then_the_window(
    renderer: Renderer,
) -> None:
    past = Event("7-1", ActivityAdded("a1", "from the hub", None, Level.info, 1.0))
    log = FakeEventLog(past=[(past, Change(True))])
    streams = make_streams(renderer, log)
    streams.restore([entry("7-2")], "7-1")
    conn = FakeConnection()
    await streams.subscribe(JSON, conn.send, "7-0")
    encoded = streams.frames.encode(past, Change(True))
    assert conn.written == [PREAMBLE + encoded.json + b"json 7-2\n\n"]
    assert log.asked == [("older", "7-0")]


async def test_an_id_the_window_and_the_hub_cannot_answer_gets_the_snapshot(renderer: Renderer) -> None:
    log = FakeEventLog(past=None)
    streams = make_streams(renderer, log)
    conn = FakeConnection()
    await streams.subscribe(HTML, conn.send, "nonsense")
    assert conn.written == [PREAMBLE + streams.snapshot().html]


async def test_publish_keeps_entries_for_resumes_and_sends_each_format_its_frames(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    page, program = FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, page.send, None)
    await streams.subscribe(JSON, program.send, None)
    streams.publish([entry("7-1"), entry("7-2")])
    assert page.written[1:] == [b"html 7-1\n\nhtml 7-2\n\n"]
    assert program.written[1:] == [b"json 7-1\n\njson 7-2\n\n"]
    assert streams.ring.since("7-0") == [entry("7-1"), entry("7-2")]
    streams.publish([])
    assert (page.sends, program.sends) == (2, 2)


async def test_a_broadcast_reaches_every_stream_but_is_not_kept_for_resumes(renderer: Renderer) -> None:
    streams = make_streams(renderer)
    page, program = FakeConnection(), FakeConnection()
    await streams.subscribe(HTML, page.send, None)
    await streams.subscribe(JSON, program.send, None)
    streams.broadcast(entry("7-0"))
    assert page.written[1:] == [b"html 7-0\n\n"]
    assert program.written[1:] == [b"json 7-0\n\n"]
    assert len(streams.ring) == 0


async def test_close_all_ends_every_stream_and_refuses_new_ones(renderer: Renderer) -> None:
    log = FakeEventLog()
    streams = make_streams(renderer, log)
    subs = [await streams.subscribe(fmt, FakeConnection().send, None) for fmt in (HTML, JSON)]
    streams.close_all()
    assert [sub.closed.result() for sub in subs] == [Closed.shutdown, Closed.shutdown]
    assert len(streams) == 0
    late = FakeConnection()
    sub = await streams.subscribe(HTML, late.send, "7-5")
    assert sub.closed.result() is Closed.shutdown
    assert late.sends == 0 and log.asked == [] and len(streams) == 0


async def test_a_stream_still_catching_up_when_shutdown_begins_ends_instead_of_joining(
    renderer: Renderer,
) -> None:
    log = FakeEventLog(past=[], held=True)
    streams = make_streams(renderer, log)
    conn = FakeConnection()
    opening = asyncio.create_task(streams.subscribe(JSON, conn.send, "6-0"))
    await log.until(lambda: log.asked == [("older", "6-0")])
    streams.close_all()
    log.release()
    sub = await opening
    assert sub.closed.result() is Closed.shutdown
    assert conn.sends == 0 and len(streams) == 0


async def test_restore_starts_the_window_from_the_hubs_entries_and_keeps_its_size(renderer: Renderer) -> None:
    streams = make_streams(renderer, window=12)
    streams.restore([entry("7-5"), entry("7-6")], "7-4")
    assert (streams.ring.size, streams.ring.origin, streams.ring.last_id) == (12, "7-4", "7-6")
    assert streams.ring.since("7-4") == [entry("7-5"), entry("7-6")]


async def test_the_write_path_is_logged_once_per_process(
    renderer: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livedash.streams")
    streams = make_streams(renderer)
    await streams.subscribe(HTML, FakeConnection().send, None)
    await streams.subscribe(JSON, FakeConnection().send, None)
    assert [r.getMessage() for r in caplog.records if r.name == "livedash.streams"] == [
        "streams write through ASGI send"
    ]

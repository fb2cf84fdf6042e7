"""Viewer links through the service, on the memory and SQLite hubs: made, opened with the right
secret only, listed with their streams, revoked (ending those streams), seen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.viewers import hash_secret
from app.hubs.embedded import EmbeddedHub
from app.hubs.sqlite import SqliteStore
from app.service.dashboard import Dashboard
from app.service.viewers import Viewers
from app.settings import Settings
from app.streaming.fanout import Closed, Subscriber
from app.streaming.render import Renderer
from tests.support.fakes import Clock

pytestmark = pytest.mark.anyio


async def _ignore(_message: object) -> None:
    return None


@pytest.fixture(params=["memory", "sqlite"])
async def hub(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings, renderer: Renderer
) -> AsyncIterator[EmbeddedHub]:
    store = SqliteStore(str(tmp_path / "links.sqlite3"), 100) if request.param == "sqlite" else None
    embedded = EmbeddedHub(store)
    await Dashboard(settings, renderer, embedded).start()  # the hub's sink, as in the app
    yield embedded
    await embedded.close()


async def test_a_link_opens_with_its_secret_only_and_keeps_only_its_hash(hub: EmbeddedHub) -> None:
    clock = Clock()
    viewers = Viewers(hub, clock)
    link, secret = await viewers.create("lobby")
    stored = await hub.get_link(link.id)
    assert (
        stored is not None and stored.secret_hash == hash_secret(secret) and secret not in stored.secret_hash
    )
    assert await viewers.open(link.id, "wrong") is None
    opened = await viewers.open(link.id, secret)
    assert opened is not None and opened.id == link.id
    assert [(shown.id, shown.last_seen) for shown in await hub.list_links()] == [(link.id, clock.now)]


async def test_revoking_ends_the_links_streams_and_listing_counts_them(hub: EmbeddedHub) -> None:
    viewers = Viewers(hub, Clock())
    kept, _ = await viewers.create("kept")
    gone, _ = await viewers.create("gone")
    streams = [Subscriber(_ignore, 1024) for _ in range(3)]
    viewers.watch(kept.id, streams[0])
    viewers.watch(gone.id, streams[1])
    viewers.watch(gone.id, streams[2])
    assert [(link.label, count) for link, count in await viewers.listing()] == [("kept", 1), ("gone", 2)]
    assert await viewers.revoke(gone.id) is True
    assert [stream.closed.done() for stream in streams] == [False, True, True]
    assert streams[1].closed.result() is Closed.revoked
    assert await viewers.revoke(gone.id) is False
    assert not await viewers.is_live(gone.id)
    streams[0].close(Closed.disconnect)
    assert [(link.label, count) for link, count in await viewers.listing()] == [("kept", 0)]


async def test_a_poll_ends_streams_of_a_link_revoked_behind_this_process(hub: EmbeddedHub) -> None:
    viewers = Viewers(hub, Clock())
    link, _ = await viewers.create("tv")
    stream = Subscriber(_ignore, 1024)
    viewers.watch(link.id, stream)
    await hub.remove_link(link.id)  # as another process would
    await viewers.poll()
    assert stream.closed.result() is Closed.revoked
    late = Subscriber(_ignore, 1024)
    viewers.watch(link.id, late)  # a stream that opened just as the link went
    assert late.closed.result() is Closed.revoked

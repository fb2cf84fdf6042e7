"""Viewer links: made, opened, listed and revoked; and the streams open on each.

The hub keeps the links, so every process and a restart know the same ones. Each process
also polls the hub every `POLL_SECONDS`: a link revoked at another process ends the streams
opened with it here too, within that time, and the open streams per link are summed over
every process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from app.domain.viewers import ViewerLink, new_link, secret_matches
from app.hubs.base import Hub, HubUnavailable
from app.streaming.fanout import Closed, Subscriber

log = logging.getLogger("livedash.viewers")

POLL_SECONDS = 1.0
SEEN_EVERY = 30.0
"""Seconds between two records of a link's `last_seen` from one process (not a write per request)."""


class Viewers:
    """This process's view of the links: which are live, and the streams open on each."""

    def __init__(self, hub: Hub, clock: Callable[[], float] = time.time) -> None:
        self.hub = hub
        self.clock = clock
        self._live: set[str] = set()
        self._streams: dict[str, set[Subscriber]] = {}
        self._seen: dict[str, float] = {}

    async def create(self, label: str) -> tuple[ViewerLink, str]:
        """A new link and its secret, kept in the hub before it is handed out."""
        link, secret = new_link(label, self.clock())
        await self.hub.add_link(link)
        self._live.add(link.id)
        return link, secret

    async def open(self, link_id: str, secret: str) -> ViewerLink | None:
        """The link if `secret` is its secret (a browser is opening its url), else None."""
        link = await self.hub.get_link(link_id)
        if link is None or not secret_matches(link, secret):
            return None
        self._live.add(link.id)
        await self.seen(link.id)
        return link

    async def is_live(self, link_id: str) -> bool:
        """The link exists (asks the hub when this process has not heard of it yet)."""
        if link_id in self._live:
            return True
        try:
            link = await self.hub.get_link(link_id)
        except HubUnavailable:
            return False
        if link is not None:
            self._live.add(link_id)
        return link is not None

    async def seen(self, link_id: str) -> None:
        """Record that a browser of the link is here (at most every `SEEN_EVERY` s per process)."""
        now = self.clock()
        if now - self._seen.get(link_id, 0.0) >= SEEN_EVERY:
            self._seen[link_id] = now
            await self.hub.link_seen(link_id, now)

    async def listing(self) -> list[tuple[ViewerLink, int]]:
        """Every link with the streams open on it over every process."""
        links = await self.hub.list_links()
        totals = await self.hub.link_streams(self.open_counts())
        return [(link, totals.get(link.id, 0)) for link in links]

    async def revoke(self, link_id: str) -> bool:
        """Forget the link and end its streams here (other processes on their next poll)."""
        removed = await self.hub.remove_link(link_id)
        self._end(link_id)
        return removed

    def watch(self, link_id: str, subscriber: Subscriber) -> None:
        """Count a stream opened with the link, and end it if the link is revoked."""
        if link_id not in self._live:
            subscriber.close(Closed.revoked)
            return
        streams = self._streams.setdefault(link_id, set())
        streams.add(subscriber)
        subscriber.closed.add_done_callback(lambda _: self._forget(link_id, subscriber))

    def _forget(self, link_id: str, subscriber: Subscriber) -> None:
        streams = self._streams.get(link_id)
        if streams is not None:
            streams.discard(subscriber)
            if not streams:
                del self._streams[link_id]

    def open_counts(self) -> dict[str, int]:
        """Streams open in this process, per link."""
        # A closed stream leaves its set on the next loop pass (a done callback): not counted.
        return {
            link_id: sum(1 for stream in streams if not stream.closed.done())
            for link_id, streams in self._streams.items()
        }

    def _end(self, link_id: str) -> None:
        self._live.discard(link_id)
        self._seen.pop(link_id, None)
        for subscriber in list(self._streams.pop(link_id, ())):
            subscriber.close(Closed.revoked)

    async def run(self) -> None:
        """Poll the hub until cancelled: end streams of links revoked elsewhere, report ours."""
        while True:
            try:
                await self.poll()
            except HubUnavailable as exc:
                log.debug("viewer links not polled: %s", exc)
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """One round of `run`."""
        live = {link.id for link in await self.hub.list_links()}
        for link_id in (self._live | self._streams.keys()) - live:
            self._end(link_id)
        self._live = live
        await self.hub.link_streams(self.open_counts())  # so a listing at another process counts ours
        for link_id in list(self._streams):  # a stream may close while `seen` awaits the hub
            await self.seen(link_id)

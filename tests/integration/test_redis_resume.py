"""1,000 events ingested across two processes while one client reads with random cuts,
reconnecting to the other process each time with `Last-Event-ID`: 0 lost, 0 duplicated, in order.

The client behaves as EventSource does: the id it sends is that of the last event it
dispatched (a frame cut before its blank line was never dispatched), heartbeats included.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import anyio
import httpx
import pytest

from tests.integration.helpers import (
    JSON_STREAM,
    MakeServer,
    assert_increasing,
    client_for,
    id_key,
    post_activity,
    redis_settings,
    unique,
)
from tests.support.redis_server import RedisServer
from tests.support.sse_client import Event, Parser

pytestmark = pytest.mark.anyio

EVENTS = 1000
PRODUCERS = 2  # one per process, concurrently
DEADLINE = 40.0  # the whole exchange; it takes well under 20 s


@dataclass
class Reader:
    """A reconnecting client: what it dispatched, over how many connections."""

    rng: random.Random
    clients: list[httpx.AsyncClient]
    last_id: str | None = None
    activity: list[Event] = field(default_factory=list)
    connections: int = 0
    snapshots_on_resume: list[str] = field(default_factory=list)
    unexpected: list[Event] = field(default_factory=list)

    async def read_one_connection(self, enough: anyio.Event) -> None:
        """Connect to the next process (taking turns) and read until a random cut."""
        client = self.clients[self.connections % len(self.clients)]
        self.connections += 1
        assert self.last_id is not None
        cut_after_events = self.rng.randint(1, 80)
        cut_after_seconds = self.rng.uniform(0.02, 0.5)
        seen = 0
        async with client.stream("GET", JSON_STREAM, headers={"Last-Event-ID": self.last_id}) as response:
            assert response.status_code == 200, response.status_code
            parser = Parser()
            with anyio.move_on_after(cut_after_seconds):
                async for chunk in response.aiter_text():
                    for event in parser.feed(chunk):  # chunks end anywhere, even mid-frame
                        seen += self.dispatch(event)
                    if seen >= cut_after_events or enough.is_set():
                        break

    def dispatch(self, event: Event) -> int:
        """What EventSource does with one event; 1 if it is one of ours."""
        self.last_id = event.id
        if event.event == "activity":
            self.activity.append(event)
            return 1
        if event.event == "snapshot":  # every connection resumes from a known id
            self.snapshots_on_resume.append(f"connection {self.connections}: {event.id}")
        elif event.event != "heartbeat":
            self.unexpected.append(event)
        return 0


async def test_thousand_events_random_cuts_alternating_processes(
    redis_server: RedisServer, make_server: MakeServer
) -> None:
    env = redis_settings(redis_server)
    servers = [make_server(env).start(), make_server(env).start()]
    seed = random.randrange(2**32)
    tag = unique("k")
    acked: dict[str, str] = {}  # id -> message, as the 202s said
    acked_by_producer: list[list[str]] = [[] for _ in range(PRODUCERS)]
    everything = anyio.Event()

    async with client_for(servers[0]) as first, client_for(servers[1]) as second:
        clients = [first, second]
        reader = Reader(random.Random(seed), clients)
        # The client starts from a known id, so every connection is a resume (none needs a
        # snapshot) and no event can hide in a first snapshot.
        reader.last_id = await post_activity(first, f"{tag}-start", actor="t")

        async def produce(k: int) -> None:
            for i in range(EVENTS // PRODUCERS):
                message = f"{tag}-{k}-{i:04d}"
                event_id = await post_activity(clients[k], message, actor="t", level="info")
                acked[event_id] = message
                acked_by_producer[k].append(event_id)

        async def read() -> None:
            while not everything.is_set():
                await reader.read_one_connection(everything)

        async def watch(producers_done: anyio.Event) -> None:
            await producers_done.wait()
            while not acked.keys() <= {e.id for e in reader.activity}:
                await anyio.sleep(0.05)
            everything.set()

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as group:
                group.start_soon(read)
                producers_done = anyio.Event()
                group.start_soon(watch, producers_done)
                async with anyio.create_task_group() as producers:
                    for k in range(PRODUCERS):
                        producers.start_soon(produce, k)
                producers_done.set()

        # The end: resuming once more brings nothing else, only a heartbeat at the same id.
        async with (
            client_for(servers[reader.connections % 2]) as client,
            client.stream("GET", JSON_STREAM, headers={"Last-Event-ID": str(reader.last_id)}) as response,
        ):
            parser = Parser()
            trailing: list[Event] = []
            with anyio.fail_after(5):
                async for chunk in response.aiter_text():
                    trailing += parser.feed(chunk)
                    if trailing:
                        break

    context = f"(seed {seed}, {reader.connections} connections)"
    assert len(acked) == EVENTS
    for ids in acked_by_producer:
        assert_increasing(ids)  # each producer waited for its 202s: its ids are ordered
    received = [e.id or "" for e in reader.activity]
    duplicated = [event_id for event_id, n in Counter(received).items() if n > 1]
    assert not duplicated, f"{len(duplicated)} duplicated, e.g. {duplicated[:5]} {context}"
    lost = sorted(set(acked) - set(received), key=id_key)
    assert not lost, f"{len(lost)} lost, e.g. {lost[:5]} {context}"
    assert received == sorted(acked, key=id_key), f"out of order {context}"
    for event in reader.activity:
        assert acked[event.id or ""] in event.data, (event, context)
    assert not reader.snapshots_on_resume, f"resumes answered with a snapshot: {reader.snapshots_on_resume}"
    assert not reader.unexpected, reader.unexpected[:5]
    assert reader.connections >= 10, f"too few cuts to mean anything {context}"
    assert [(e.event, e.id) for e in trailing] == [("heartbeat", reader.last_id)], trailing

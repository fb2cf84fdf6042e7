"""A lease in Redis, so a producer that must run once per deployment runs once, not per worker.

The lease is a redis-py `Lock` with a timeout. The holder renews it every third of its
lifetime; when it dies (or loses Redis for longer than the lifetime) the key expires and
another process takes it over. A holder that cannot reach Redis keeps the lease until it
would have lapsed, since no other process can take it before then either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

log = logging.getLogger("livedash.lease")


class Lease:
    """Hold `key` while alive; `on_change(True/False)` when this process gains or loses it."""

    def __init__(
        self, client: aioredis.Redis, key: str, seconds: float, on_change: Callable[[bool], None]
    ) -> None:
        # Not thread-local: the token must be the one this process took, whichever task renews.
        self._lock = Lock(client, key, timeout=seconds, blocking=False, thread_local=False)
        self._key = key
        self._seconds = seconds
        self._on_change = on_change
        self.held = False
        self._valid_until = 0.0
        self._released = False

    async def run(self) -> None:
        """Take, keep or wait for the lease until cancelled or released."""
        while not self._released:
            sent = time.monotonic()  # Redis sets the expiry after this: it lapses no sooner
            try:
                ok = (
                    bool(await self._lock.reacquire())
                    if self.held
                    else await self._lock.acquire(blocking=False)
                )
                if ok:
                    self._valid_until = sent + self._seconds
            except LockError as exc:  # the key is gone or another process's: lost
                log.debug("lease %s: %s", self._key, exc)
                ok = False
            except RedisError as exc:
                log.debug("lease %s: %s", self._key, exc)
                ok = self.held and time.monotonic() < self._valid_until  # still ours until it lapses
            _raise_if_cancelled()
            if self._released:  # released while this attempt was on its way: give it back
                if ok:
                    await self._give_back()
                return
            if ok != self.held:
                self.held = ok
                log.info("%s the lease %s", "took" if ok else "lost", self._key)
                self._on_change(ok)
            await asyncio.sleep(self._seconds / 3)

    async def release(self) -> None:
        """Give the lease up for good (shutdown), so another process need not wait for expiry."""
        self._released = True
        if self.held:
            self.held = False
            self._on_change(False)
            await self._give_back()

    async def _give_back(self) -> None:
        with contextlib.suppress(RedisError):  # LockError included: it is not ours any more
            await self._lock.release()


def _raise_if_cancelled() -> None:
    """redis-py sends through `asyncio.wait_for`, which on Python 3.11 swallows a cancellation
    that arrives just as the send completes; the loop must stop all the same."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

"""A lease in Redis, so a producer that must run once per deployment runs once, not per worker.

The holder renews the key every third of its lifetime; when it dies (or loses Redis for
longer than the lifetime) the key expires and another process takes it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("livedash.lease")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """Hold `key` while alive; `on_change(True/False)` when this process gains or loses it."""

    def __init__(
        self, client: aioredis.Redis, key: str, seconds: float, on_change: Callable[[bool], None]
    ) -> None:
        self._redis = client
        self._key = key
        self._ms = int(seconds * 1000)
        self._token = uuid.uuid4().hex
        self._on_change = on_change
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self.held = False
        self._valid_until = 0.0
        self._released = False

    async def run(self) -> None:
        """Take, keep or wait for the lease until cancelled or released."""
        while not self._released:
            try:
                if self.held:
                    ok = bool(await self._renew(keys=[self._key], args=[self._token, self._ms]))
                else:
                    ok = bool(await self._redis.set(self._key, self._token, nx=True, px=self._ms))
                if ok:
                    self._valid_until = time.monotonic() + self._ms / 1000
            except RedisError as exc:
                log.debug("lease %s: %s", self._key, exc)
                ok = self.held and time.monotonic() < self._valid_until  # still ours until it lapses
            if self._released:  # released while this attempt was on its way: give it back
                if ok:
                    await self._give_back()
                return
            if ok != self.held:
                self.held = ok
                log.info("%s the lease %s", "took" if ok else "lost", self._key)
                self._on_change(ok)
            await asyncio.sleep(self._ms / 3000)

    async def release(self) -> None:
        """Give the lease up for good (shutdown), so another process need not wait for expiry."""
        self._released = True
        if self.held:
            self.held = False
            self._on_change(False)
            await self._give_back()

    async def _give_back(self) -> None:
        with contextlib.suppress(RedisError):
            await self._release(keys=[self._key], args=[self._token])

"""The embedded backend's SQLite file: the replay window and the current state, on disk.

The event loop never waits for the disk. Events and state changes are queued as they are
published and written by one worker thread in a transaction every `FLUSH_SECONDS` (or when
asked to flush, as on shutdown), so a burst of a thousand events costs one commit. A crash
loses at most that interval; a restart (SIGTERM) loses nothing.

The file holds:
- `meta`: the id epoch, chosen when the file is created, so ids keep increasing across
  restarts (`<epoch>-<seq>`, seq continuing from the last stored event);
- `events`: the encoded frames of the newest `window` events (replayed byte for byte, so a
  template change never rewrites history);
- `viewer_links`: the revocable links that log screens in (their secrets' hashes only);
- `state`: one row, the current state as msgpack (`StateData`): small (capped by
  `LIVEDASH_MAX_METRICS`, `LIVEDASH_FEED_SIZE`, `LIVEDASH_MAX_ALERTS`) and always consistent
  with the newest stored event;
- `history`: each card's raw seconds and roll-up buckets (app/domain/history.py), one row
  each, upserted as they change and trimmed to the card's retention in the same transaction.

One process owns the file: it holds an exclusive lock on `<path>.lock` while it runs, so a
second worker on the same file refuses to start instead of splitting the dashboard in two.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

import msgspec

from app.domain.events import Entry
from app.domain.history import Changes, Row
from app.domain.ids import format_id
from app.domain.state import StateData
from app.domain.viewers import ViewerLink
from app.hubs.base import HubUnavailable

log = logging.getLogger("livedash.store")

_T = TypeVar("_T")
_LINK_COLUMNS = "id, label, secret_hash, created_at, last_seen"

FLUSH_SECONDS = 0.05
SCHEMA_VERSION = 1

_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(StateData)
_NO_CHANGES = Changes([], [], [])

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, key TEXT, html BLOB NOT NULL, json BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS viewer_links (
    id TEXT PRIMARY KEY, label TEXT NOT NULL, secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL, last_seen REAL);
CREATE TABLE IF NOT EXISTS history (
    name TEXT NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, last REAL NOT NULL, count INTEGER NOT NULL, last_ts REAL NOT NULL,
    PRIMARY KEY (name, res, ts)) WITHOUT ROWID;
"""


class StoreError(RuntimeError):
    """The database cannot be used; the message names the file and what to do."""


class Stored(NamedTuple):
    """What a file holds at start-up."""

    epoch: int
    last_seq: int
    state: StateData | None
    entries: list[Entry]
    history: list[Row]


class SqliteStore:
    """Owns the file, its lock and the writer thread."""

    def __init__(self, path: str, window: int) -> None:
        self.path = Path(path)
        self._window = window
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livedash-sqlite")
        self._rows: list[tuple[int, str | None, bytes, bytes]] = []
        self._snapshot: Callable[[], StateData] | None = None
        self._history: Callable[[], Changes] | None = None
        self._dirty = asyncio.Event()
        self._held: Changes | None = None
        self._last_seq = 0
        self.error: str | None = None
        """Why the last write failed, for /readyz; None while writes succeed."""
        self.commits = 0
        self.commit_seconds = 0.0
        """Time spent in committed transactions, in all (with `commits`: the mean, for /metrics)."""

    # --- start-up --------------------------------------------------------------------

    async def open(
        self, snapshot: Callable[[], StateData], history: Callable[[], Changes] | None = None
    ) -> Stored:
        """Lock, open (or create) and read the file; `StoreError` says why it cannot.

        Each batch written stores the state `snapshot()` returns at that moment, and the
        history `history()` says changed since the last batch.
        """
        self._snapshot = snapshot
        self._history = history
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _open(self) -> Stored:
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(f"{where}.lock", "ab")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise StoreError(f"cannot create the database {where}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise StoreError(
                f"another livedash process is using {where}; one process per database file."
                " To run several workers or instances, set LIVEDASH_REDIS_URL (or REDIS_URL)"
            ) from None
        try:
            db = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            stored = self._read(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{where} is not a usable livedash database ({exc}); move it aside to start empty,"
                " or point LIVEDASH_DB_PATH elsewhere"
            ) from None
        except msgspec.DecodeError as exc:
            raise StoreError(f"{where}: the stored state cannot be read ({exc})") from None
        self._db = db
        self._last_seq = stored.last_seq
        return stored

    def _read(self, db: sqlite3.Connection) -> Stored:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema", str(SCHEMA_VERSION)) != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path} has schema {meta['schema']}, this livedash reads {SCHEMA_VERSION}")
        if "epoch" not in meta:
            meta["epoch"] = str(time.time_ns() // 1_000_000)
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema", str(SCHEMA_VERSION)), ("epoch", meta["epoch"])],
                )
        epoch = int(meta["epoch"])
        rows = db.execute(
            "SELECT seq, key, html, json FROM events ORDER BY seq DESC LIMIT ?", (self._window,)
        ).fetchall()
        rows.reverse()
        entries = [
            Entry(format_id(epoch, seq), bytes(html), bytes(json), key) for seq, key, html, json in rows
        ]
        (last_seq,) = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        blob = db.execute("SELECT data FROM state WHERE id = 1").fetchone()
        state = _state_decoder.decode(blob[0]) if blob else None
        history = [
            Row(*row)
            for row in db.execute(
                "SELECT name, res, ts, min, max, last, count, last_ts FROM history ORDER BY name, res, ts"
            )
        ]
        return Stored(epoch, int(last_seq), state, entries, history)

    def probe(self) -> None:
        """Open, read and release the file at once (`python -m app` does, before uvicorn
        starts), so a bad file is one clear line; `StoreError` says why it cannot be used."""
        try:
            self._open()
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
            self._executor.shutdown(wait=False)

    # --- writing ---------------------------------------------------------------------

    def add(self, seq_entries: Sequence[tuple[int, Entry]]) -> None:
        """Queue published events; the state is snapshotted when the batch is written."""
        self._rows.extend((seq, entry.key, entry.html, entry.json) for seq, entry in seq_entries)
        self._dirty.set()

    async def run(self) -> None:
        """Write queued batches until cancelled (then `flush` writes what is left)."""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far, in one transaction, off the event loop."""
        if self._snapshot is None or self._db is None:
            return
        self._dirty.clear()
        rows, self._rows = self._rows, []
        blob = _state_encoder.encode(self._snapshot())  # taken on the loop: consistent with rows
        history = self._history() if self._history else _NO_CHANGES
        if self._held is not None:  # a failed batch's history goes first
            history = Changes(
                self._held.rows + history.rows,
                self._held.removed + history.removed,
                self._held.trims + history.trims,
            )
            self._held = None
        started = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write, rows, blob, history)
        except (sqlite3.Error, OSError) as exc:
            self.error = f"sqlite: cannot write {self.path}: {exc}"
            log.error("%s; will retry", self.error)
            self._rows[:0] = rows  # keep them, in order, for the next attempt
            self._held = history
            self._dirty.set()
            await asyncio.sleep(1.0)
        else:
            self.error = None
            self.commits += 1
            self.commit_seconds += time.perf_counter() - started

    def _write(self, rows: list[tuple[int, str | None, bytes, bytes]], blob: bytes, history: Changes) -> None:
        db = self._db
        assert db is not None
        with db:
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO events (seq, key, html, json) VALUES (?, ?, ?, ?)", rows)
            if rows:
                db.execute("DELETE FROM events WHERE seq <= ?", (rows[-1][0] - self._window,))
            db.execute("INSERT OR REPLACE INTO state (id, data) VALUES (1, ?)", (blob,))
            db.executemany("DELETE FROM history WHERE name = ?", [(name,) for name in history.removed])
            db.executemany(
                "INSERT OR REPLACE INTO history (name, res, ts, min, max, last, count, last_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                history.rows,
            )
            db.executemany(
                "DELETE FROM history WHERE name = ? AND ((res = 1 AND ts <= ?) OR (res > 1 AND ts <= ?))",
                history.trims,
            )

    # --- viewer links: rare, small, written at once on the store's thread ---------------

    async def _on_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the store's thread; a failure is the hub's (a 503), not a crash."""
        db = self._db
        if db is None:
            raise HubUnavailable(f"sqlite: {self.path} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, db)
        except sqlite3.Error as exc:
            raise HubUnavailable(f"sqlite: viewer links in {self.path}: {exc}") from exc

    async def add_link(self, link: ViewerLink) -> None:
        """Keep a new link (committed before this returns: its url is about to be handed out)."""
        row = (link.id, link.label, link.secret_hash, link.created_at, link.last_seen)
        await self._on_thread(
            lambda db: _commit(db, f"INSERT INTO viewer_links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?)", row)
        )

    async def get_link(self, link_id: str) -> ViewerLink | None:
        """The link by that id, or None."""
        rows = await self._on_thread(
            lambda db: db.execute(
                f"SELECT {_LINK_COLUMNS} FROM viewer_links WHERE id = ?", (link_id,)
            ).fetchall()
        )
        return _link(rows[0]) if rows else None

    async def list_links(self) -> list[ViewerLink]:
        """Every link, oldest first."""
        rows = await self._on_thread(
            lambda db: db.execute(f"SELECT {_LINK_COLUMNS} FROM viewer_links ORDER BY created_at").fetchall()
        )
        return [_link(row) for row in rows]

    async def remove_link(self, link_id: str) -> bool:
        """Delete a link; False if none had that id."""
        count = await self._on_thread(
            lambda db: _commit(db, "DELETE FROM viewer_links WHERE id = ?", (link_id,))
        )
        return count > 0

    async def link_seen(self, link_id: str, at: float) -> None:
        """Record when a browser of the link was last here."""
        await self._on_thread(
            lambda db: _commit(db, "UPDATE viewer_links SET last_seen = ? WHERE id = ?", (at, link_id))
        )

    async def close(self) -> None:
        """Write what is queued, then release the file and its lock."""
        try:
            await self.flush()
        finally:
            if self._db is not None:
                db, self._db = self._db, None
                await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
            self._executor.shutdown(wait=False)


def _commit(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    """Run one statement in its own transaction; the number of rows it changed."""
    with db:
        db.execute("BEGIN")
        return db.execute(sql, args).rowcount


def _link(row: tuple[Any, ...]) -> ViewerLink:
    link_id, label, secret_hash, created_at, last_seen = row
    return ViewerLink(
        id=link_id, label=label, secret_hash=secret_hash, created_at=created_at, last_seen=last_seen
    )

"""Dev mode's watcher: one call per poll that finds a file added, changed or removed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from app.web.dev import mtimes, watch_files

pytestmark = pytest.mark.anyio


def test_mtimes_lists_every_file_below_the_folders(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "card.html").write_text("x")
    (tmp_path / "app.css").write_text("y")
    assert set(mtimes([tmp_path])) == {tmp_path / "partials" / "card.html", tmp_path / "app.css"}


async def test_each_change_is_reported_once(tmp_path: Path) -> None:
    css = tmp_path / "livedash.css"
    css.write_text("a")
    changes: list[int] = []
    changed = asyncio.Event()

    def on_change() -> None:
        changes.append(len(changes) + 1)
        changed.set()

    task = asyncio.create_task(watch_files([tmp_path], on_change, poll=0.01))
    try:
        await asyncio.sleep(0.05)
        assert changes == []  # nothing changed yet
        stat = css.stat()
        os.utime(css, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        await asyncio.wait_for(changed.wait(), 2)
        changed.clear()
        (tmp_path / "new.html").write_text("b")
        await asyncio.wait_for(changed.wait(), 2)
        await asyncio.sleep(0.05)
        assert changes == [1, 2]
    finally:
        task.cancel()

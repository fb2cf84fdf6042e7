"""Dev mode's file watcher: an open page refreshes itself when a template, CSS or JS file changes.

It polls modification times (about 0.3 s apart) rather than using inotify: no dependency, it
works on every file system a designer may edit on (Docker mounts, network shares), and the
folders hold a few dozen files. Only `create_app` with `LIVEDASH_DEV=1` starts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_SECONDS = 0.3


def mtimes(folders: Iterable[Path]) -> dict[Path, int]:
    """Every file under `folders` with its modification time (ns); a new or deleted file shows too."""
    found: dict[Path, int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if path.is_file():
                    found[path] = path.stat().st_mtime_ns
            except FileNotFoundError:  # removed while we looked: the next poll sees it gone
                continue
    return found


async def watch_files(
    folders: Iterable[Path], changed: Callable[[], None], poll: float = POLL_SECONDS
) -> None:
    """Call `changed` once after each poll that finds a file added, removed or modified."""
    folders = tuple(folders)
    before = await asyncio.to_thread(mtimes, folders)
    while True:
        await asyncio.sleep(poll)
        now = await asyncio.to_thread(mtimes, folders)
        if now != before:
            before = now
            changed()

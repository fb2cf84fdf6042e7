"""Start-up refusals: a setup that would lose or split data stops the process, saying why.

Several workers without Redis would each keep a dashboard of their own; two processes on one
SQLite file would fight over it; a corrupt or unwritable file would come up as an empty
dashboard. Each must exit with a log line that names what to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import MakeServer, assert_ready, client_for
from tests.support.server import LiveServer

pytestmark = pytest.mark.anyio

# uvicorn's supervisor (WEB_CONCURRENCY > 1) stops itself when a worker fails to start, but
# then exits 0 by its own design (uvicorn 0.54, main.py: only a single worker exits 3). That
# line in the log is the supervisor reporting the refusal; any other exit must be non-zero.
UVICORN_SUPERVISOR_STOPPED = "failed to start, stopping the parent process"


def refusal_log(server: LiveServer, *, timeout: float = 20.0) -> str:
    """Start `server`, expecting it to exit on its own (never serve, never restart forever); its log."""
    with pytest.raises(RuntimeError) as failure:
        server.start(timeout)
    first_line = str(failure.value).partition("\n")[0]
    log = server.log()
    assert first_line.startswith("server exited with"), (
        f"it did not exit by itself: {first_line}\n{tail(log)}"
    )
    return log


def tail(log: str, lines: int = 30) -> str:
    """The end of a log (a restart loop repeats the same traceback for pages)."""
    return "\n".join(log.splitlines()[-lines:])


def assert_exited_non_zero(server: LiveServer, log: str) -> None:
    assert server.returncode is not None, "still running"
    assert server.returncode != 0, f"exit code 0 after refusing to start:\n{log}"


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
async def test_web_concurrency_above_one_without_redis_refuses_to_start(
    make_server: MakeServer, tmp_path: Path, storage: str
) -> None:
    db_path = "" if storage == "memory" else str(tmp_path / "livedash.sqlite3")
    server = make_server({"WEB_CONCURRENCY": "2", "LIVEDASH_DB_PATH": db_path})
    log = refusal_log(server)
    assert "LIVEDASH_REDIS_URL" in log, log
    assert "WEB_CONCURRENCY" in log, log
    if UVICORN_SUPERVISOR_STOPPED not in log:
        assert_exited_non_zero(server, log)


async def test_second_process_on_the_same_sqlite_file_refuses_to_start(
    make_server: MakeServer, tmp_path: Path
) -> None:
    db_path = tmp_path / "shared.sqlite3"
    env = {"LIVEDASH_DB_PATH": str(db_path)}
    first = make_server(env).start()
    second = make_server(env)
    log = refusal_log(second)
    assert_exited_non_zero(second, log)
    assert str(db_path) in log, log
    assert "LIVEDASH_REDIS_URL" in log, log
    # The first one is unharmed.
    async with client_for(first) as client:
        await assert_ready(client, "sqlite")


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is not a SQLite database\n" * 200,
        # The right magic string, then nonsense: SQLite only notices when it reads a page.
        b"SQLite format 3\x00" + bytes(range(256)) * 64,
    ],
    ids=["garbage", "bad-pages"],
)
async def test_corrupt_database_file_stops_start_up(
    make_server: MakeServer, tmp_path: Path, garbage: bytes
) -> None:
    db_path = tmp_path / "livedash.sqlite3"
    db_path.write_bytes(garbage)
    server = make_server({"LIVEDASH_DB_PATH": str(db_path)})
    log = refusal_log(server)
    assert_exited_non_zero(server, log)
    assert str(db_path) in log, log


def unwritable(tmp_path: Path, kind: str) -> Path:
    """A database path nobody (not even root) can create a file at."""
    if kind == "under-a-file":
        (tmp_path / "file.txt").write_text("a regular file, not a folder\n")
        return tmp_path / "file.txt" / "livedash.sqlite3"
    directory = tmp_path / "a-directory"
    directory.mkdir()
    return directory  # the path names a directory, not a file


@pytest.mark.parametrize("kind", ["under-a-file", "is-a-directory"])
async def test_unwritable_database_path_stops_start_up(
    make_server: MakeServer, tmp_path: Path, kind: str
) -> None:
    db_path = unwritable(tmp_path, kind)
    server = make_server({"LIVEDASH_DB_PATH": str(db_path)})
    log = refusal_log(server)
    assert_exited_non_zero(server, log)
    assert str(db_path) in log, log

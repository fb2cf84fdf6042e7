"""Jinja set-up shared by the page handlers and the streams: one environment, one render path.

Partials render to the same HTML whether they land in the first page or in an SSE frame;
the helpers here are the only formatting templates get, so designers never need Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from app.domain.board import Board
from app.domain.history import History

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"


def raw_number(value: float) -> str:
    """The value as data: integers without a trailing `.0`, others as Python's shortest repr."""
    number = json_number(value)
    return str(number) if isinstance(number, int) else repr(number)


def json_number(value: float) -> int | float:
    """Integral floats as ints, so JSON shows `1234`, not `1234.0`."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def pretty_number(value: float) -> str:
    """Readable at a glance: thousands separators, 2-3 significant decimals, M/G/T from 10^6."""
    value = float(value)
    magnitude = abs(value)
    if magnitude >= 1e15:
        return f"{value:.3g}"
    if magnitude >= 1e6:
        for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
            if magnitude >= limit:
                return f"{value / limit:,.2f}{suffix}"
    if value.is_integer():
        return f"{int(value):,}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}" if magnitude else "0"


def label(name: str) -> str:
    """`p95_latency_ms` -> `P95 latency ms`: a readable default title for a metric."""
    words = name.replace("_", " ").replace("-", " ").replace(".", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def duration(seconds: float) -> str:
    """`30` -> `30 s`, `90` -> `1.5 min`, `7200` -> `2 h`: a configured span, in words."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def iso_time(ts: float) -> str:
    """Machine-readable time for `<time datetime>`."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def clock(ts: float) -> str:
    """HH:MM:SS in UTC; the page script shows local time once it runs."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


@lru_cache(maxsize=64)
def _file_hash(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`, so a changed file is never served stale from cache."""
    path = (STATIC / name).resolve()
    if STATIC not in path.parents or not path.is_file():
        raise FileNotFoundError(f"no static file {name!r}")
    return f"/static/{name}?v={_file_hash(path, path.stat().st_mtime_ns)}"


def build_id(version: str) -> str:
    """What this build serves: the version and every template and static file, hashed.

    An open page was rendered by one build (`<html data-build>`); a stream that opens with
    another one means a deploy changed what the page would look like, so it reloads.
    """
    digest = hashlib.sha256(version.encode())
    for folder in (TEMPLATES, STATIC):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def make_environment(auto_reload: bool = False) -> jinja2.Environment:
    """The one Jinja environment: autoescape on, helpers registered."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        auto_reload=auto_reload,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        raw_number=raw_number,
        pretty_number=pretty_number,
        label=label,
        duration=duration,
        iso_time=iso_time,
        clock=clock,
        isfinite=math.isfinite,
    )
    env.globals["static_url"] = static_url
    env.globals["build"] = ""  # create_app sets the running build's id (see build_id)
    env.globals["dev"] = False  # create_app: whether pages listen for `dev-reload` (dev mode)
    env.globals["board"] = Board()  # no dashboard file: callers with one pass their own `board`
    env.globals["history"] = History()  # no points yet: callers pass the dashboard's `history`
    return env


class Renderer:
    """Renders partials and pages from the shared environment."""

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env

    def render(self, template: str, **context: Any) -> str:
        """Render one template by its path under templates/."""
        return self.env.get_template(template).render(**context)

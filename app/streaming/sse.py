"""Server-sent event frames, encoded to bytes once and written as they are.

The WHATWG parser treats CR, LF and CRLF alike as line ends, so a payload line break of any
kind must start a new `data:` line, and an event name or id containing one would let a user
forge a field or end the frame early: those are refused outright.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")


# Sent once per response: how long browsers wait before reconnecting, plus a comment so
# that proxies see a first byte at once.
def preamble(retry_ms: int) -> bytes:
    """The first frame of every stream: a comment and the `retry:` field."""
    return f": livedash\nretry: {int(retry_ms)}\n\n".encode()


def _field(name: str, value: str) -> str:
    if _FORBIDDEN_IN_FIELD.search(value):
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL: {value!r}")
    return f"{name}: {value}\n"


def frame(data: str, *, event: str | None = None, id: str | None = None) -> bytes:
    """Encode one event; every line of `data` gets its own `data:` prefix."""
    head = ""
    if event is not None:
        head += _field("event", event)
    if id is not None:
        head += _field("id", id)
    body = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return (head + body + "\n").encode()

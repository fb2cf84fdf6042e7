"""A small, strict SSE reader for tests: parses frames exactly as the WHATWG rules say."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_LINE = re.compile(r"\r\n|\r|\n")


@dataclass
class Event:
    """One dispatched event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


@dataclass
class Parser:
    """Feed text chunks, collect dispatched events (and the retry value seen)."""

    buffer: str = ""
    last_id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _pending_cr: bool = False

    def feed(self, text: str) -> list[Event]:
        """Parse `text` (any chunking); return events completed by it."""
        self.buffer += text
        events: list[Event] = []
        while True:
            match = _LINE.search(self.buffer)
            if match is None:
                break
            # A lone CR at the very end may be the first half of CRLF: wait for more.
            if match.group() == "\r" and match.end() == len(self.buffer):
                break
            line = self.buffer[: match.start()]
            self.buffer = self.buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = Event(self._event or "message", "\n".join(self._data), self.last_id)
            self._event = ""
            self._data = []
            return event
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip(" "))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None


async def events(chunks: AsyncIterator[str], parser: Parser | None = None) -> AsyncIterator[Event]:
    """Yield events from an async iterator of text chunks (e.g. httpx `aiter_text`)."""
    parser = parser or Parser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event

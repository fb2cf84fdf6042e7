"""What a page complained about: console errors and warnings, uncaught errors, failed requests.

Chromium reports a Content-Security-Policy violation as a console error ("Executing inline
script violates the following Content Security Policy directive ..."), so CSP violations land
here too. Every browser test ends with `BrowserLog.assert_clean()`; a test that provokes
problems on purpose (a server restart, a cut connection) declares them first with
`BrowserLog.expect(...)`, each matched on its kind, its exact text and its URL path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Request
from playwright.sync_api import Error as PlaywrightError

STREAM_PATH = "/dashboard/stream"
HTMX_PATH = "/static/vendor/htmx.min.js"


class Kind(StrEnum):
    """Where a problem was seen."""

    console_error = "console.error"
    console_warning = "console.warning"
    page_error = "pageerror"
    request_failed = "requestfailed"


@dataclass(frozen=True)
class Problem:
    """One complaint: its kind, its text, and the URL it is about (script, resource or page)."""

    kind: Kind
    text: str
    url: str
    while_closing: bool = False

    @property
    def path(self) -> str:
        """The URL's path, without origin or query."""
        return urlsplit(self.url).path

    @property
    def is_csp_violation(self) -> bool:
        """Chromium's wording for a blocked script, style, handler, eval or connection."""
        return self.kind is Kind.console_error and "Content Security Policy" in self.text

    def __str__(self) -> str:
        csp = " [CSP violation]" if self.is_csp_violation else ""
        return f"{self.kind}{csp}: {self.text!r} at {self.url}"


@dataclass(frozen=True)
class Noise:
    """A problem a test expects: same kind, exactly this text, a URL with exactly this path."""

    kind: Kind
    text: str
    path: str
    why: str

    def matches(self, problem: Problem) -> bool:
        """True when `problem` is this expected one."""
        return problem.kind is self.kind and problem.text == self.text and problem.path == self.path


# Every `error` event of an EventSource is logged by htmx (`htmx:sseError` -> console.error
# of the event object), from htmx's own script.
SSE_ERROR_LOGGED = Noise(
    Kind.console_error, "[object Event]", HTMX_PATH, "htmx logs each EventSource error event"
)


def stream_failure(net_error: str) -> tuple[Noise, Noise]:
    """The two traces of the page's event stream failing with `net_error`: the failed request
    and Chromium's console line about it."""
    why = f"the event stream failed with {net_error}"
    return (
        Noise(Kind.request_failed, net_error, STREAM_PATH, why),
        Noise(Kind.console_error, f"Failed to load resource: {net_error}", STREAM_PATH, why),
    )


def stream_status(status: int, reason: str) -> Noise:
    """Chromium's console line for a stream request answered with an HTTP error `status`."""
    return Noise(
        Kind.console_error,
        f"Failed to load resource: the server responded with a status of {status} ({reason})",
        STREAM_PATH,
        f"the event stream was answered with {status}",
    )


# A reload (by the page itself: a new build, a dev edit; or by a test) ends the old document's stream.
RELOAD_ABORTS_STREAM = Noise(
    Kind.request_failed, "net::ERR_ABORTED", STREAM_PATH, "a reload aborts the stream"
)

# Closing a page aborts its open EventSource request; only that, and only while closing.
_STREAM_ABORTED_ON_CLOSE = Noise(
    Kind.request_failed, "net::ERR_ABORTED", STREAM_PATH, "closing the page aborts its event stream"
)


@dataclass
class BrowserLog:
    """Collects problems from every page it watches; one per test."""

    problems: list[Problem] = field(default_factory=list)
    expected: list[Noise] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    closing: bool = False

    def watch(self, page: Page) -> None:
        """Record `page`'s console errors/warnings, uncaught errors and failed requests."""
        self.pages.append(page)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._add(Kind.page_error, _describe(error), page.url))
        page.on("requestfailed", self._on_request_failed)

    def expect(self, *noise: Noise) -> None:
        """Declare problems this test provokes on purpose; they are left out of `unexpected()`."""
        self.expected.extend(noise)

    def take(self, kind: Kind, text_part: str) -> list[Problem]:
        """Remove and return the problems of `kind` whose text contains `text_part`."""
        self.flush()
        taken = [p for p in self.problems if p.kind is kind and text_part in p.text]
        self.problems = [p for p in self.problems if p not in taken]
        return taken

    def flush(self) -> None:
        """Make sure everything the open pages reported so far has been delivered.

        The sync API hands over events only while it talks to the browser; a round trip
        to each page delivers whatever the browser sent before it.
        """
        for page in self.pages:
            if not page.is_closed():
                page.evaluate("0")

    def unexpected(self) -> list[Problem]:
        """Problems not declared with `expect` (nor a page's stream aborted by closing it)."""
        return [p for p in self.problems if not self._allowed(p)]

    def assert_clean(self) -> None:
        """Fail with the list of unexpected problems, if there is any."""
        self.flush()
        problems = self.unexpected()
        assert not problems, "the browser reported problems:\n" + "\n".join(f"  {p}" for p in problems)

    def _allowed(self, problem: Problem) -> bool:
        noise: Iterable[Noise] = tuple(self.expected)
        if problem.while_closing:
            noise = (*noise, _STREAM_ABORTED_ON_CLOSE)
        return any(n.matches(problem) for n in noise)

    def _add(self, kind: Kind, text: str, url: str) -> None:
        self.problems.append(Problem(kind, text, url, self.closing))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._add(Kind.console_error, message.text, message.location.get("url") or "")
        elif message.type == "warning":
            self._add(Kind.console_warning, message.text, message.location.get("url") or "")

    def _on_request_failed(self, request: Request) -> None:
        self._add(Kind.request_failed, request.failure or "(no reason given)", request.url)


def _describe(error: PlaywrightError) -> str:
    return f"{error.name}: {error.message}"

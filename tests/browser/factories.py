"""The call signature of the `open_page` fixture in conftest.py, for annotations in the tests.

`make_server` is tests.support.server.MakeServer, as in the integration tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from playwright.sync_api import Page


class PageFactory(Protocol):
    """Open a watched page in a new browser context (keyword arguments go to `new_context`)."""

    def __call__(self, **context_options: Any) -> Page: ...

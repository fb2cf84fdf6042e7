"""The call signatures of the factory fixtures in conftest.py, for annotations in the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from playwright.sync_api import Page

from tests.support.server import LiveServer


class ServerFactory(Protocol):
    """Start a LiveServer that is stopped after the test."""

    def __call__(self, env: Mapping[str, str] | None = None, port: int | None = None) -> LiveServer: ...


class PageFactory(Protocol):
    """Open a watched page in a new browser context (keyword arguments go to `new_context`)."""

    def __call__(self, **context_options: Any) -> Page: ...

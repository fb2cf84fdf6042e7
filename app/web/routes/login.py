"""The login page, logout, and the url of a viewer link: how a browser gets its session."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader, State
from litestar.response import Redirect, Template

from app.service.viewers import Viewers
from app.settings import Settings
from app.web.access import (
    LINK_SUBJECT,
    PASSWORD_SUBJECT,
    LoginThrottle,
    SessionCodec,
    client_key,
    password_matches,
    set_cookie,
)

LOGIN_BODY_BYTES = 4096
NO_STORE = CacheControlHeader(no_store=True)


def _login_page(settings: Settings, error: str | None, status: int) -> Template:
    return Template("pages/login.html", context={"title": settings.title, "error": error}, status_code=status)


def _session_response(request: Request[Any, Any, Any], codec: SessionCodec, subject: str) -> Redirect:
    """303 to the board with a fresh session cookie; the browser's next URL is clean."""
    secure = request.scope.get("scheme") == "https"
    cookie = set_cookie(codec.issue(subject, time.time()), int(codec.lifetime), secure)
    return Redirect(
        "/",
        status_code=303,
        headers={"Set-Cookie": cookie, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


@get("/login", cache_control=NO_STORE, sync_to_thread=False, include_in_schema=False)
def login_page(state: State) -> Template | Redirect:
    """The form; with no password configured there is nothing to log in to."""
    settings: Settings = state.settings
    if not settings.viewer_password:
        return Redirect("/", status_code=303)
    return _login_page(settings, None, 200)


@post("/login", cache_control=NO_STORE, include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Check the password (throttled per client), then set the session cookie."""
    settings: Settings = state.settings
    throttle: LoginThrottle = state.login_throttle
    client = client_key(request.client.host) if request.client else ""
    now = time.monotonic()
    wait = throttle.retry_after(client, now)
    if wait is not None:
        page = _login_page(settings, "Too many wrong passwords; wait a few minutes.", 429)
        page.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
        return page
    if not settings.viewer_password:
        return Redirect("/", status_code=303)
    body = await request.body()
    fields = parse_qs(body[:LOGIN_BODY_BYTES].decode("utf-8", "replace")) if body else {}
    given = (fields.get("password") or [""])[-1]
    if not given:
        return _login_page(settings, "password: enter the password.", 400)
    if not password_matches(given, settings.viewer_password):
        throttle.failed(client, now)
        return _login_page(settings, "Wrong password.", 401)
    throttle.succeeded(client)
    return _session_response(request, state.sessions, PASSWORD_SUBJECT)


@post("/logout", cache_control=NO_STORE, include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    """Forget the session cookie."""
    secure = request.scope.get("scheme") == "https"
    return Redirect("/login", status_code=303, headers={"Set-Cookie": set_cookie("", 0, secure)})


@get("/link/{link_id:str}/{secret:str}", include_in_schema=False)
async def open_link(
    request: Request[Any, Any, Any], link_id: str, secret: str, state: State
) -> Response[Any]:
    """Log this browser in as the link and send it on to a URL without the secret."""
    viewers: Viewers = state.viewers
    if await viewers.open(link_id, secret) is None:
        page = _login_page(state.settings, "This viewer link was revoked or never existed.", 404)
        page.headers["Referrer-Policy"] = "no-referrer"
        return page
    return _session_response(request, state.sessions, LINK_SUBJECT + link_id)

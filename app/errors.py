"""Error bodies that name the offending field.

Litestar reports a bad element of a list body as key `data` and drops msgspec's path, and a
number too large for a float (`1e999`) fails JSON decoding before any field is known. Both
would leave a client guessing, so 400s are rewritten here from the underlying msgspec error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException
from litestar.utils.scope.state import ScopeState

_AT = re.compile(r" - at `\$(?:\.data)?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<field>[^`]+)`|^`(?P<subject>[^`]+)` must")


def describe(message: str) -> tuple[str, str | None]:
    """msgspec's "Expected ... - at `$.data[0].name`" -> ("name: Expected ... (at $[0].name)", "name")."""
    match = _AT.search(message)
    text = message[: match.start()] if match else message
    path = match.group("path") if match else ""
    field = None
    if path:
        field = re.split(r"[.\[\]]", path.rstrip("]"))[-1] or None
        if field is not None and field.isdigit():
            field = None
    if field is None:  # "Object missing required field `value`", "`value` must be finite"
        named = _NAMED.search(text)
        field = (named.group("field") or named.group("subject")) if named else None
    where = f" (at ${path})" if path else ""
    return (f"{field}: {text}{where}" if field else f"body: {text}{where}"), field


def non_finite_path(value: Any, path: str = "$") -> str | None:
    """Where a decoded JSON document holds an infinite number, if anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        items: Any = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for sub_path, item in items:
        found = non_finite_path(item, sub_path)
        if found:
            return found
    return None


def _explain_decode_error(request: Request[Any, Any, Any], message: str) -> str:
    if "out of range" not in message:
        return f"body: invalid JSON: {message}"
    body = ScopeState.from_scope(request.scope).body
    try:
        where = non_finite_path(json.loads(body)) if isinstance(body, bytes) else None
    except ValueError:
        where = None
    if where is None:
        return f"body: {message}"
    field = re.split(r"[.\[\]]", where.rstrip("]"))[-1]
    return f"{field}: must be a finite number (at {where})"


def client_error(request: Request[Any, Any, Any], exc: ClientException) -> Response[Any]:
    """Answer a 4xx with `{"status_code", "detail"}` where the detail names the field."""
    detail = exc.detail
    extra = exc.extra
    cause = exc.__cause__
    if isinstance(cause, msgspec.ValidationError):
        detail, field = describe(str(cause))
        source = extra[0].get("source", "body") if isinstance(extra, list) and extra else "body"
        extra = [{"message": detail, "key": field, "source": source}]
    elif cause is not None and isinstance(cause.__cause__, msgspec.DecodeError):
        detail = _explain_decode_error(request, str(cause.__cause__))
        extra = None
    content: dict[str, Any] = {"status_code": exc.status_code, "detail": detail}
    if extra:
        content["extra"] = extra
    return Response(content, status_code=exc.status_code, headers=exc.headers)

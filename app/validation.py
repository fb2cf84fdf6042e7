"""Strict decoding of ingest bodies, with errors that name the offending field.

Litestar converts request bodies leniently (`"12"` would become the number 12) and lets a
body that is not UTF-8, or nested thousands deep, escape as a 500. So every ingest route
decodes its raw body here first, strictly, with msgspec, and Litestar's own decoding (kept
for the OpenAPI schema) only ever sees a body that already passed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<field>[^`]+)`|^`(?P<subject>[^`]+)` must")


def describe(message: str) -> tuple[str, str | None]:
    """msgspec's "Expected ... - at `$[0].name`" -> ("name: Expected ... (at $[0].name)", "name")."""
    match = _AT.search(message)
    text = message[: match.start()] if match else message
    path = match.group("path") if match else ""
    field = _last_key(path)
    if field is None:  # "Object missing required field `value`", "`value` must be finite"
        named = _NAMED.search(text)
        field = (named.group("field") or named.group("subject")) if named else None
    where = f" (at ${path})" if path else ""
    return f"{field or 'body'}: {text}{where}", field


def _last_key(path: str) -> str | None:
    key = re.split(r"[.\[\]]", path.rstrip("]"))[-1] if path else ""
    return key if key and not key.isdigit() else None


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


def _fail(detail: str, field: str | None) -> ValidationException:
    return ValidationException(detail, extra=[{"message": detail, "key": field or "body", "source": "body"}])


def decode(raw: bytes, type_: Any) -> Any:
    """Decode `raw` as JSON into `type_`, strictly; a 400 naming the field otherwise."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise _fail(*describe(str(exc))) from exc
    except msgspec.DecodeError as exc:
        if "out of range" in str(exc):
            # JSON allows 1e999 but no float holds it; find which field, for the message.
            where = _non_finite_in(raw)
            if where is not None:
                field = _last_key(where)
                raise _fail(f"{field}: must be a finite number (at {where})", field) from exc
        raise _fail(f"body: invalid JSON: {exc}", None) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise _fail(f"body: invalid JSON: {type(exc).__name__}", None) from exc


def _non_finite_in(raw: bytes) -> str | None:
    try:
        return non_finite_path(json.loads(raw))
    except (ValueError, RecursionError):
        return None


def strict_body(type_: Any) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A `before_request` hook that refuses a body `decode` would refuse."""

    async def check(request: Request[Any, Any, Any]) -> None:
        decode(await request.body(), type_)

    return check

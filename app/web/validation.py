"""Strict decoding of ingest bodies, with errors that name the offending field.

msgspec's messages are read in one place only, `describe`, and tests/web/test_validation.py
pins their exact text for the msgspec version pyproject.toml allows.

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
from litestar import Request, Response
from litestar.exceptions import ValidationException

from app.domain.model import NAME_PATTERN

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAME_RULE = f"Expected `str` matching regex {NAME_PATTERN!r}"
_NAME_RULE_TEXT = "must be 1 to 64 of a-z, 0-9, '_', '.', '-'"


def humane(text: str) -> str:
    """Say the name rule in words instead of quoting its regex."""
    return text.replace(_NAME_RULE, _NAME_RULE_TEXT)


_NAMED = re.compile(r"field `(?P<field>[^`]+)`|^`(?P<subject>[^`]+)` must")


def describe(message: str) -> tuple[str, str | None]:
    """msgspec's "Expected ... - at `$[0].name`" -> ("name: Expected ... (at $[0].name)", "name")."""
    match = _AT.search(message)
    text = humane(message[: match.start()] if match else message)
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


def bad_input(detail: str, field: str | None) -> ValidationException:
    """A 400 whose detail (and `extra`) name the field; every ingest refusal is one of these."""
    return ValidationException(detail, extra=[{"message": detail, "key": field or "body", "source": "body"}])


def decode(raw: bytes, type_: Any) -> Any:
    """Decode `raw` as JSON into `type_`, strictly; a 400 naming the field otherwise."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise bad_input(*describe(str(exc))) from exc
    except msgspec.DecodeError as exc:
        # JSON allows 1e999 but no float holds it: if that is what failed, name the field.
        where = _non_finite_in(raw)
        if where is not None:
            field = _last_key(where)
            raise bad_input(f"{field}: must be a finite number (at {where})", field) from exc
        raise bad_input(f"body: invalid JSON: {exc}", None) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise bad_input(f"body: invalid JSON: {type(exc).__name__}", None) from exc


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


def name_the_field(_request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's own 400s (path and query parameters) say only "Validation failed for ...";
    put the field and the reason, which it keeps in `extra`, into the detail."""
    detail = str(exc.detail)
    extra = exc.extra
    if isinstance(extra, list) and extra and detail.startswith("Validation failed"):
        detail = "; ".join(
            f"{item.get('key')}: {humane(str(item.get('message')))}"
            for item in extra
            if isinstance(item, dict)
        )
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)

"""Bad ingest input: the right 4xx, an error body that names the field, never a 500, nothing applied."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.helpers import page_regions, unique
from tests.support.server import LiveServer

MAX_BODY = 8192
MAX_BATCH = 20
SERVER_ENV = {"LIVEDASH_MAX_BODY_BYTES": str(MAX_BODY), "LIVEDASH_MAX_BATCH": str(MAX_BATCH)}
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as client:
        yield client


def last_id(http: httpx.Client) -> str:
    response = http.get("/healthz")
    assert response.status_code == 200
    return str(response.json()["last_id"])


def error_texts(response: httpx.Response) -> list[str]:
    """The error body's `detail` and each `extra` entry's key and message."""
    body: dict[str, Any] = response.json()
    texts = [str(body.get("detail", ""))]
    extra = body.get("extra")
    if isinstance(extra, list):
        texts += [f"{item.get('key')} {item.get('message')}" for item in extra if isinstance(item, dict)]
    elif extra:
        texts.append(json.dumps(extra))
    return texts


def assert_names_field(response: httpx.Response, field: str) -> None:
    texts = error_texts(response)
    assert any(re.search(rf"(?<![\w-]){re.escape(field)}(?![\w-])", text) for text in texts), (
        f"the error body does not name `{field}`: {response.text}"
    )


def send(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.request(method, path, content=content, headers=JSON_HEADERS)


def raw(text: str) -> bytes:
    return text.encode()


Case = tuple[str, str, Any, str]
"""(case id, path, body as a JSON value or raw bytes, the field the error must name)"""

INVALID_VALUES: list[Case] = [
    ("unknown-severity", "/api/alerts", {"id": "a1", "severity": "loud", "title": "t"}, "severity"),
    ("unknown-level", "/api/activity", {"message": "m", "level": "shouting"}, "level"),
    ("value-1e999", "/api/metrics", raw('[{"name": "x", "value": 1e999}]'), "value"),
    ("value-minus-1e999", "/api/metrics", raw('[{"name": "x", "value": -1e999}]'), "value"),
    ("ts-1e999", "/api/metrics", raw('[{"name": "x", "value": 1, "ts": 1e999}]'), "ts"),
    ("ts-negative", "/api/metrics", [{"name": "x", "value": 1, "ts": -1}], "ts"),
    ("name-with-space", "/api/metrics", [{"name": "Bad Name", "value": 1}], "name"),
    ("name-65-chars", "/api/metrics", [{"name": "a" * 65, "value": 1}], "name"),
    ("name-empty", "/api/metrics", [{"name": "", "value": 1}], "name"),
    ("name-slash", "/api/metrics", [{"name": "a/b", "value": 1}], "name"),
    ("name-upper-case", "/api/metrics", [{"name": "CPU", "value": 1}], "name"),
    ("name-trailing-newline", "/api/metrics", [{"name": "a\n", "value": 1}], "name"),
    ("alert-id-trailing-newline", "/api/alerts", {"id": "a\n", "severity": "info", "title": "t"}, "id"),
    (
        "name-in-second-point",
        "/api/metrics",
        [{"name": "ok", "value": 1}, {"name": "a b", "value": 1}],
        "name",
    ),
    ("message-501-chars", "/api/activity", {"message": "m" * 501}, "message"),
    ("message-empty", "/api/activity", {"message": ""}, "message"),
    ("actor-65-chars", "/api/activity", {"message": "m", "actor": "a" * 65}, "actor"),
    ("title-201-chars", "/api/alerts", {"id": "a1", "severity": "info", "title": "t" * 201}, "title"),
    ("title-empty", "/api/alerts", {"id": "a1", "severity": "info", "title": ""}, "title"),
    (
        "alert-message-1001",
        "/api/alerts",
        {"id": "a1", "severity": "info", "title": "t", "message": "m" * 1001},
        "message",
    ),
    ("alert-id-bad", "/api/alerts", {"id": "Bad Id", "severity": "info", "title": "t"}, "id"),
    ("unknown-field-metric", "/api/metrics", [{"name": "x", "value": 1, "unit": "ms"}], "unit"),
    ("unknown-field-activity", "/api/activity", {"message": "m", "bogus": 1}, "bogus"),
    (
        "unknown-field-alert",
        "/api/alerts",
        {"id": "a1", "severity": "info", "title": "t", "colour": "red"},
        "colour",
    ),
    ("missing-value", "/api/metrics", [{"name": "x"}], "value"),
    ("missing-message", "/api/activity", {}, "message"),
    ("missing-severity", "/api/alerts", {"id": "a1", "title": "t"}, "severity"),
]

WRONG_TYPES: list[Case] = [
    ("value-as-string", "/api/metrics", [{"name": "x", "value": "12"}], "value"),
    ("value-as-bool", "/api/metrics", [{"name": "x", "value": True}], "value"),
    ("value-as-null", "/api/metrics", [{"name": "x", "value": None}], "value"),
    ("name-as-number", "/api/metrics", [{"name": 5, "value": 1}], "name"),
    ("ts-as-string", "/api/metrics", [{"name": "x", "value": 1, "ts": "1700000000"}], "ts"),
    ("message-as-number", "/api/activity", {"message": 5}, "message"),
    ("actor-as-number", "/api/activity", {"message": "m", "actor": 5}, "actor"),
    ("level-as-number", "/api/activity", {"message": "m", "level": 1}, "level"),
    ("severity-as-number", "/api/alerts", {"id": "a1", "severity": 2, "title": "t"}, "severity"),
    ("title-as-list", "/api/alerts", {"id": "a1", "severity": "info", "title": ["t"]}, "title"),
]

# (case id, path, body): not a body of the right shape at all; the error names no one field.
MALFORMED: list[tuple[str, str, Any]] = [
    ("value-NaN-literal", "/api/metrics", raw('[{"name": "x", "value": NaN}]')),
    ("value-Infinity-literal", "/api/metrics", raw('[{"name": "x", "value": Infinity}]')),
    ("metrics-not-an-array", "/api/metrics", {"name": "x", "value": 1}),
    ("metric-point-not-an-object", "/api/metrics", ["x"]),
    ("activity-not-an-object", "/api/activity", ["m"]),
    ("alert-null", "/api/alerts", None),
    ("empty-array", "/api/metrics", []),
    ("too-many-points", "/api/metrics", [{"name": "x", "value": i} for i in range(MAX_BATCH + 1)]),
    ("invalid-json", "/api/metrics", raw('[{"name": "x",')),
    ("invalid-json-trailing", "/api/alerts", raw('{"id": "a1", "severity": "info", "title": "t"} x')),
    ("empty-body", "/api/activity", b""),
    ("invalid-utf8", "/api/activity", b'{"message": "\xff\xfe"}'),
    ("deeply-nested", "/api/metrics", b"[" * 3000 + b"]" * 3000),
]


def assert_rejected(http: httpx.Client, path: str, body: Any, field: str | None) -> None:
    """400 with a JSON error body (naming `field`), and no event recorded."""
    before = last_id(http)
    response = send(http, "POST", path, body)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    if field is not None:
        assert_names_field(response, field)
    assert last_id(http) == before, "a rejected request recorded an event"


@pytest.mark.parametrize(
    ("path", "body", "field"), [c[1:] for c in INVALID_VALUES], ids=[c[0] for c in INVALID_VALUES]
)
def test_invalid_value_is_a_400_naming_the_field(
    http: httpx.Client, path: str, body: Any, field: str
) -> None:
    assert_rejected(http, path, body, field)


@pytest.mark.parametrize(
    ("path", "body", "field"), [c[1:] for c in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES]
)
def test_wrong_type_is_a_400_naming_the_field(http: httpx.Client, path: str, body: Any, field: str) -> None:
    assert_rejected(http, path, body, field)


@pytest.mark.parametrize(("path", "body"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_body_is_a_400_never_a_500(http: httpx.Client, path: str, body: Any) -> None:
    assert_rejected(http, path, body, None)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413(http: httpx.Client, chunked: bool) -> None:
    before = last_id(http)
    body = json.dumps({"message": "m", "actor": "x" * MAX_BODY}).encode()
    content: Any = iter([body[:100], body[100:]]) if chunked else body
    response = http.post("/api/activity", content=content, headers=JSON_HEADERS)
    assert response.status_code == 413, (response.status_code, response.text)
    assert last_id(http) == before


def test_delete_unknown_alert_is_404(http: httpx.Client) -> None:
    alert_id = unique("never-raised")
    response = http.delete(f"/api/alerts/{alert_id}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"alert_id: no open alert {alert_id!r}"


def test_delete_alert_twice_is_404_the_second_time(http: httpx.Client) -> None:
    alert_id = unique("once")
    assert (
        send(http, "POST", "/api/alerts", {"id": alert_id, "severity": "info", "title": "t"}).status_code
        == 202
    )
    assert http.delete(f"/api/alerts/{alert_id}").status_code == 200
    assert http.delete(f"/api/alerts/{alert_id}").status_code == 404


@pytest.mark.parametrize("alert_id", ["Bad%20Id", "q%0A"])
def test_delete_with_a_bad_alert_id_is_400(http: httpx.Client, alert_id: str) -> None:
    response = http.delete(f"/api/alerts/{alert_id}")
    assert response.status_code == 400, response.text
    assert_names_field(response, "alert_id")
    assert response.json()["detail"] == "alert_id: must be 1 to 64 of a-z, 0-9, '_', '.', '-'"


LAST_POINT_BAD: list[tuple[str, bytes]] = [
    ("bad-name", b'{"name": "Bad Name", "value": 1}'),
    ("value-1e999", b'{"name": "zz", "value": 1e999}'),
    ("value-as-string", b'{"name": "zz", "value": "NaN"}'),
    ("ts-negative", b'{"name": "zz", "value": 1, "ts": -5}'),
    ("unknown-field", b'{"name": "zz", "value": 1, "unit": "ms"}'),
]


@pytest.mark.parametrize("bad_point", [c[1] for c in LAST_POINT_BAD], ids=[c[0] for c in LAST_POINT_BAD])
def test_batch_with_a_bad_last_point_applies_nothing(http: httpx.Client, bad_point: bytes) -> None:
    names = [unique("half") for _ in range(3)]
    good = b",".join(json.dumps({"name": name, "value": 41.5}).encode() for name in names)
    before = last_id(http)
    shown = page_regions(http.get("/").text)
    response = send(http, "POST", "/api/metrics", b"[" + good + b"," + bad_point + b"]")
    assert response.status_code == 400, response.text
    assert last_id(http) == before
    page = http.get("/")
    assert page.status_code == 200
    assert page_regions(page.text) == shown, "part of a rejected batch is on the page"


# --- the bearer token ------------------------------------------------------------------

TOKEN = "s3cret-ingest-token"


@pytest.fixture(scope="module")
def guarded() -> Iterator[httpx.Client]:
    with (
        LiveServer(env={"LIVEDASH_INGEST_TOKEN": TOKEN}) as live,
        httpx.Client(base_url=live.url, timeout=10.0, trust_env=False) as client,
    ):
        yield client


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer"],
    ids=["missing", "wrong", "basic-scheme", "no-scheme", "longer", "empty"],
)
def test_ingest_without_the_right_token_is_401(guarded: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    before = last_id(guarded)
    for method, path, body in [
        ("POST", "/api/metrics", [{"name": "x", "value": 1}]),
        ("POST", "/api/activity", {"message": "m"}),
        ("POST", "/api/alerts", {"id": "a1", "severity": "info", "title": "t"}),
        ("DELETE", "/api/alerts/a1", None),
    ]:
        content = None if body is None else json.dumps(body).encode()
        response = guarded.request(method, path, content=content, headers={**JSON_HEADERS, **headers})
        assert response.status_code == 401, (method, path, response.status_code, response.text)
    assert last_id(guarded) == before


def test_ingest_with_the_right_token_is_accepted(guarded: httpx.Client) -> None:
    auth = {**JSON_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    alert_id = unique("tok")
    assert guarded.post("/api/metrics", json=[{"name": "x", "value": 1}], headers=auth).status_code == 202
    assert guarded.post("/api/activity", json={"message": "m"}, headers=auth).status_code == 202
    body = {"id": alert_id, "severity": "info", "title": "t"}
    assert guarded.post("/api/alerts", json=body, headers=auth).status_code == 202
    assert guarded.delete(f"/api/alerts/{alert_id}", headers=auth).status_code == 200
    # Reading needs no token.
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/").status_code == 200

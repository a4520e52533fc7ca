"""Sending an event: every way a request can be wrong gets the answer it got when FastAPI
read the request, now that the route answers without FastAPI's per-request machinery
(`send_event_fast` in local/app.py). The expected answers were taken from the FastAPI
route before the change, one by one."""

from __future__ import annotations

import httpx
import pytest

from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import client, unique

JSON = {"content-type": "application/json"}
PATTERN = "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
OBJECT = "body: Input should be a valid dictionary or object to extract fields from"
EVENT = "event must be a string (its type) or an object with a non-empty string `type`"
PARSE = "the request body could not be read: There was an error parsing the body"

# name: (path, request arguments, status, error, parameter); path None is the instance's
CASES: dict[str, tuple[str | None, dict[str, object], int, str, str | None]] = {
    "no-auth": (None, {"json": {"event": "put"}, "auth": None}, 403, "send Authorization", None),
    "basic-auth": (
        None,
        {"json": {"event": "put"}, "auth": "Basic abc"},
        403,
        "send Authorization",
        None,
    ),
    "bearer-nothing": (
        None,
        {"json": {"event": "put"}, "auth": "Bearer"},
        403,
        "send Authorization",
        None,
    ),
    "not-a-jwt": (
        None,
        {"json": {"event": "put"}, "auth": "Bearer x.y.z"},
        403,
        "the bearer token is not a JWT",
        None,
    ),
    "bad-machine-slug": (
        "/machines/Scr!tch/i/a/events",
        {"json": {"event": "put"}},
        400,
        f"machineSlug: {PATTERN}",
        "machineSlug",
    ),
    "bad-instance-slug": (
        "/machines/scratch/i/a%20b/events",
        {"json": {"event": "put"}},
        400,
        f"instanceSlug: {PATTERN}",
        "instanceSlug",
    ),
    # A wrong slug and no token: the token is judged first, as FastAPI's dependency was.
    "bad-slug-no-auth": (
        "/machines/Scr!tch/i/a/events",
        {"json": {"event": "put"}, "auth": None},
        403,
        "send Authorization",
        None,
    ),
    # Unreadable JSON is answered before the token is looked at, as FastAPI did.
    "bad-json-no-auth": (
        None,
        {"content": b"{x", "headers": JSON, "auth": None},
        400,
        "the request body is not valid JSON",
        "body",
    ),
    "bad-slug-bad-event": (
        "/machines/Scr!tch/i/a/events",
        {"json": {"event": 3}},
        400,
        f"machineSlug: {PATTERN}",
        "machineSlug",
    ),
    "no-body": (None, {}, 400, "body: Field required", "body"),
    "empty-json": (None, {"content": b"", "headers": JSON}, 400, "body: Field required", "body"),
    "not-json": (
        None,
        {"content": b"{x", "headers": JSON},
        400,
        "the request body is not valid JSON",
        "body",
    ),
    "text-plain": (
        None,
        {"content": b'{"event": "put"}', "headers": {"content-type": "text/plain"}},
        400,
        OBJECT,
        "body",
    ),
    "no-content-type": (None, {"content": b'{"event": "put"}'}, 400, OBJECT, "body"),
    "a-list": (None, {"json": [1]}, 400, OBJECT, "body"),
    "no-event": (None, {"json": {}}, 400, EVENT, "event"),
    "event-a-number": (None, {"json": {"event": 3}}, 400, EVENT, "event"),
    "empty-type": (None, {"json": {"event": {"type": ""}}}, 400, EVENT, "event"),
    "empty-string": (None, {"json": {"event": ""}}, 400, "event type must not be empty", "event"),
    "too-deep": (
        None,
        {"content": b'{"event": ' + b"[" * 5000 + b"]" * 5000 + b"}", "headers": JSON},
        400,
        PARSE,
        "body",
    ),
    "not-utf-8": (None, {"content": b'{"event": "\xff"}', "headers": JSON}, 400, PARSE, "body"),
    "nan": (
        None,
        {"content": b'{"event": {"type": "put", "d": NaN}}', "headers": JSON},
        400,
        "event.d: is nan, which JSON cannot hold; nothing was changed",
        "event",
    ),
    "over-400-kB": (
        None,
        {"json": {"event": {"type": "put", "d": "a" * 500_000}}},
        400,
        "the event is 500",
        "event",
    ),
    "other-org": (
        None,
        {"json": {"event": "put"}, "headers": {"x-statebacked-org-id": "other"}},
        403,
        "the token has no access to org 'other'",
        None,
    ),
    "act-not-json": (
        None,
        {"json": {"event": "put"}, "headers": {"x-statebacked-act": "[1"}},
        400,
        "x-statebacked-act must be a JSON object",
        "x-statebacked-act",
    ),
    "no-such-instance": (
        "/machines/scratch/i/no-such-one/events",
        {"json": {"event": "put"}},
        404,
        "machine 'scratch' has no instance named 'no-such-one'",
        None,
    ),
    "no-such-machine": (
        "/machines/no-such-machine/i/a/events",
        {"json": {"event": "put"}},
        404,
        "there is no machine named 'no-such-machine'",
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_wrong_request_gets_the_answer_fastapi_gave(server: ServerThread, name: str) -> None:
    path, arguments, status, error, parameter = CASES[name]
    with client(server) as http:
        slug = unique("route")
        assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
        answer = wrong_request(
            server, "POST", path or f"/machines/scratch/i/{slug}/events", arguments
        )
        said_as(answer, status, error, parameter)
        if status == 400:
            assert answer.json()["code"] == "invalid-parameter"
        # Nothing was sent: the instance has its creation only.
        assert len(http.get(f"/machines/scratch/i/{slug}/events").json()["transitions"]) == 1


def wrong_request(
    server: ServerThread, method: str, path: str, case: dict[str, object]
) -> httpx.Response:
    """A request made as `case` says: `auth` in place of the good token (None: none at
    all), `headers` added, the rest as httpx takes it."""
    arguments = dict(case)
    headers = {"authorization": f"Bearer {sign_key_token(server.key, {'sub': 'demo-user'})}"}
    if "auth" in arguments:
        auth = arguments.pop("auth")
        headers.pop("authorization")
        if auth is not None:
            headers["authorization"] = str(auth)
    headers.update(arguments.pop("headers", {}))  # type: ignore[call-overload]
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, **arguments)  # type: ignore[arg-type]


def said_as(answer: httpx.Response, status: int, error: str, parameter: str | None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"].startswith(error), body
    assert body.get("parameter") == parameter, body


@pytest.mark.parametrize(
    ("content_type", "auth_scheme"),
    [
        ("application/json; charset=utf-8", "Bearer"),
        ("application/vnd.example+json", "bearer"),
    ],
)
def test_events_are_taken_as_fastapi_took_them(
    server: ServerThread, content_type: str, auth_scheme: str
) -> None:
    with client(server) as http:
        slug = unique("route")
        assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
        token = str(http.headers["authorization"]).split()[1]
        answer = http.post(
            f"/machines/scratch/i/{slug}/events",
            content=b'{"event": {"type": "put", "key": "k", "value": 1}, "extra": true}',
            headers={"content-type": content_type, "authorization": f"{auth_scheme} {token}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["publicContext"] == {"k": 1}


def test_the_document_still_declares_the_route(server: ServerThread) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    operation = document["paths"]["/machines/{machineSlug}/i/{instanceSlug}/events"]["post"]
    assert operation["requestBody"]["required"] is True
    assert {"200", "400", "403", "404", "409", "500"} <= set(operation["responses"])
    assert [parameter["name"] for parameter in operation["parameters"]][:2] == [
        "machineSlug",
        "instanceSlug",
    ]


LIST_CASES: dict[str, tuple[str | None, dict[str, object], int, str, str | None]] = {
    "no-auth": (None, {"auth": None}, 403, "send Authorization", None),
    "bad-slug": ("/machines/Scr!tch/i/a/events", {}, 400, f"machineSlug: {PATTERN}", "machineSlug"),
    "bad-slug-no-auth": (
        "/machines/Scr!tch/i/a/events",
        {"auth": None},
        403,
        "send Authorization",
        None,
    ),
    "forged-cursor": (
        None,
        {"params": {"cursor": "abc.def"}},
        400,
        "the cursor is not one this list gave out",
        "cursor",
    ),
    "empty-cursor": (
        None,
        {"params": {"cursor": ""}},
        400,
        "the cursor is not one this list gave out",
        "cursor",
    ),
    "other-org": (
        None,
        {"headers": {"x-statebacked-org-id": "other"}},
        403,
        "the token has no access to org 'other'",
        None,
    ),
    "no-such-instance": (
        "/machines/scratch/i/no-such-one/events",
        {},
        404,
        "machine 'scratch' has no instance named 'no-such-one'",
        None,
    ),
}


@pytest.mark.parametrize("name", list(LIST_CASES))
def test_a_wrong_history_request_gets_the_answer_fastapi_gave(
    server: ServerThread, name: str
) -> None:
    path, arguments, status, error, parameter = LIST_CASES[name]
    with client(server) as http:
        slug = unique("route")
        assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
    answer = wrong_request(server, "GET", path or f"/machines/scratch/i/{slug}/events", arguments)
    said_as(answer, status, error, parameter)


def test_a_history_page_gives_back_what_was_sent_as_json(server: ServerThread) -> None:
    """Pages are stored JSON text joined, not parsed and encoded again: still one JSON
    document, with every value as it was sent (text that is not ASCII, quotes and
    backslashes, nesting, numbers past 2^53), and cursors that go on to the end."""
    sent = [
        {"type": "put", "key": "k", "value": value}
        for value in ["é ☃ \U0001f600", 'quote " and \\ backslash', {"deep": [1, [2, {"x": None}]]}]
    ] + [{"type": "put", "key": "n", "value": 2**60}, {"type": "put", "key": "f", "value": 0.1}]
    with client(server) as http:
        slug = unique("route")
        assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
        for event in sent * 60:  # 300 events: pages of 100
            assert http.post(f"/machines/scratch/i/{slug}/events", json={"event": event}).is_success
        items, cursor, pages = [], None, 0
        while True:
            answer = http.get(
                f"/machines/scratch/i/{slug}/events", params={"cursor": cursor} if cursor else {}
            )
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
            body = answer.json()
            assert set(body) <= {"transitions", "cursor"}
            items += body["transitions"]
            pages += 1
            cursor = body.get("cursor")
            if not cursor:
                break
    assert pages == 4 and len(items) == 301
    assert [item["event"] for item in reversed(items[:-1])] == sent * 60
    assert items[0]["state"] is not None and items[-1]["event"] == {"type": "xstate.init"}
    assert all(set(item) == {"createdAt", "state", "event"} for item in items)

"""Input that used to break an instance for good is refused before anything runs."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smb_tui.local.server import ServerThread
from tests.conftest import client, free_port, start_server, unique

EVENTS = "/machines/scratch/i/{}/events"


def new_instance(http: httpx.Client) -> str:
    slug = unique("hostile")
    assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
    return slug


def still_usable(http: httpx.Client, slug: str, transitions: int) -> None:
    """Reads answer, the history holds nothing of the refused write, and a good event goes."""
    assert http.get(f"/machines/scratch/i/{slug}").status_code == 200
    assert http.get(f"/machines/scratch/i/{slug}/admin").status_code == 200
    history = http.get(EVENTS.format(slug))
    assert history.status_code == 200
    assert len(history.json()["transitions"]) == transitions
    good = {"event": {"type": "put", "key": "k", "value": 1}}
    assert http.post(EVENTS.format(slug), json=good).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"event": {"type": "put", "key": "k", "value": "\\ud800"}}',  # a lone surrogate
        '{"event": {"type": "put", "key": "\\udfff", "value": 1}}',  # in a key
        '{"event": {"type": "put", "key": "k", "value": NaN}}',
        '{"event": {"type": "put", "key": "k", "value": -Infinity}}',
        '{"event": {"type": "put", "key": "k", "value": ' + "[" * 900 + "]" * 900 + "}}",
        '{"event": {"type": "put", "key": "k", "value": ' + "[" * 5000 + "]" * 5000 + "}}",
    ],
    ids=["surrogate", "surrogate-key", "nan", "infinity", "900-deep", "5000-deep"],
)
def test_an_event_that_is_not_plain_json_is_refused(
    server: ServerThread, http: httpx.Client, body: str
) -> None:
    slug = new_instance(http)
    answer = http.post(
        EVENTS.format(slug), content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json().get("code") == "invalid-parameter", answer.text
    still_usable(http, slug, transitions=1)


def test_a_context_that_is_not_plain_json_is_refused(http: httpx.Client) -> None:
    slug = unique("hostile-ctx")
    body = '{"slug": "' + slug + '", "context": {"public": {"a": "\\ud800"}}}'
    answer = http.post(
        "/machines/scratch", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and "lone surrogate" in answer.json()["error"]
    assert http.get(f"/machines/scratch/i/{slug}").status_code == 404


def test_numbers_are_kept_as_javascript_sees_them(http: httpx.Client) -> None:
    slug = new_instance(http)
    event = {"type": "put", "key": "big", "value": 2**70}
    assert http.post(EVENTS.format(slug), json={"event": event}).status_code == 200
    assert http.get(f"/machines/scratch/i/{slug}").json()["publicContext"]["big"] == float(2**70)


def test_an_auth_context_nested_thousands_deep_is_a_400(http: httpx.Client) -> None:
    answer = http.get("/machines", headers={"x-statebacked-act": "[" * 5000 + "]" * 5000})
    assert answer.status_code == 400 and answer.json()["parameter"] == "x-statebacked-act"


def test_a_machine_that_makes_a_value_json_cannot_hold_stores_nothing(
    http: httpx.Client,
) -> None:
    slug = new_instance(http)
    answer = http.post(EVENTS.format(slug), json={"event": "corrupt"})
    assert answer.status_code == 500 and "not JSON" in answer.json()["error"]
    still_usable(http, slug, transitions=1)


def test_following_logs_by_the_rule_never_repeats_or_skips(http: httpx.Client) -> None:
    slug = new_instance(http)
    for n in range(230):
        event = {"type": "put", "key": f"k{n}", "value": n}
        http.post(EVENTS.format(slug), json={"event": event})
    seen: list[str] = []
    start = "2000-01-01T00:00:00Z"
    for _ in range(10):  # State Backed's rule: call again with from = maxTimestamp
        body = http.get("/logs", params={"from": start, "instance": slug}).json()
        seen += [entry["log"] for entry in body["logs"]]
        if not body["logs"]:
            break
        assert body["maxTimestamp"] == body["logs"][-1]["timestamp"]
        start = body["maxTimestamp"]
    assert seen == [f"stored k{n}" for n in range(230)]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_log_times_out_of_range_are_a_400(http: httpx.Client, moment: str) -> None:
    answer = http.get("/logs", params={"from": moment})
    assert answer.status_code == 400 and answer.json()["parameter"] == "from"


def test_the_database_is_private(server: ServerThread) -> None:
    db = server.server.options.db
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, path


@pytest.mark.parametrize(
    "path",
    [
        "/machines?cursor=MQ",  # the old unsigned form of page 1
        "/machines/counter/i?cursor=MQ.AAAAAAAAAAAAAAAA",
        "/machines/counter/indexes/count/query?op=gt&value=1&cursor=W10",
        "/machines/counter/i/busy/events?cursor=MTE4MDU5MTYyMDcxNzQ0MTE1MTM2MA",  # 2^70
    ],
)
def test_forged_cursors_are_a_400(http: httpx.Client, path: str) -> None:
    answer = http.get(path)
    assert answer.status_code == 400 and answer.json()["parameter"] == "cursor"


def test_a_cursor_works_only_on_the_list_it_came_from(http: httpx.Client) -> None:
    history = http.get("/machines/counter/i/busy/events").json()
    cursor = history["cursor"]
    assert http.get("/machines/counter/i/busy/events", params={"cursor": cursor}).is_success
    elsewhere = http.get("/machines/counter/i", params={"cursor": cursor})
    assert elsewhere.status_code == 400
    other_instance = http.get("/machines/counter/i/small/events", params={"cursor": cursor})
    assert other_instance.status_code == 400


@pytest.mark.parametrize("value", ["99999999999999999999999999", "1e400", "-1e400", "NaN"])
def test_index_values_past_what_sqlite_holds_are_no_500(http: httpx.Client, value: str) -> None:
    answer = http.get("/machines/counter/indexes/count/query", params={"op": "gt", "value": value})
    assert answer.status_code == 200


def test_an_index_query_with_no_op_lists_every_instance_in_order(http: httpx.Client) -> None:
    body = http.get("/machines/counter/indexes/count/query", params={"limit": 100}).json()
    values = [float(entry["indexValue"]) for entry in body["instances"]]
    assert len(values) >= 2 and values == sorted(values)
    assert all(isinstance(entry["indexValue"], str) for entry in body["instances"])


def test_locks_live_only_while_in_use(server: ServerThread, http: httpx.Client) -> None:
    for n in range(200):
        http.post("/machines/counter", json={"slug": "busy"})  # 409 every time
        http.post(f"/machines/counter/i/gone-{n}/events", json={"event": "increment"})  # 404
    assert server.server.service is not None and len(server.server.service.locks) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/keys"),
        ("POST", "/orgs"),
        ("GET", "/users"),
    ],
)
def test_what_only_state_backed_does_is_a_501(http: httpx.Client, method: str, path: str) -> None:
    answer = http.request(method, path, json={})
    assert answer.status_code == 501, answer.text
    assert answer.json()["code"] == "not-supported-locally"


def test_an_unknown_path_is_a_json_404(http: httpx.Client) -> None:
    answer = http.get("/no-such-thing")
    assert answer.status_code == 404 and "error" in answer.json()


def test_a_web_app_may_call_the_server(http: httpx.Client) -> None:
    preflight = http.options(
        "/machines/counter/i/busy/events",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "http://localhost:5173")
    answer = http.get("/machines", headers={"origin": "http://localhost:5173"})
    assert answer.headers["access-control-allow-origin"] == "*"


def test_idle_connections_are_closed_and_connections_are_capped(tmp_path: Path) -> None:
    with start_server(tmp_path, demo=False, idle_timeout=1.0, max_connections=3) as small:
        port = int(small.base_url.rsplit(":", 1)[1])
        idle = socket.create_connection(("127.0.0.1", port))
        idle.settimeout(5)
        assert idle.recv(1) == b"", "an idle connection was kept open"
        slow = socket.create_connection(("127.0.0.1", port))
        slow.settimeout(5)
        slow.sendall(b"GET /machines HTTP/1.1\r\nhost: x\r\n")  # and the rest never comes
        assert slow.recv(1) == b"", "a connection trickling its headers was kept open"
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            with httpx.Client(base_url=small.base_url) as extra:
                assert extra.get("/openapi.json").status_code == 503
        finally:
            for sock in held:
                sock.close()


def test_an_action_that_raises_fails_the_event_and_logs_the_traceback(
    http: httpx.Client,
) -> None:
    slug = unique("no-count")
    # A public context without `count`: the counter's `add` raises KeyError.
    created = http.post("/machines/counter", json={"slug": slug, "context": {"public": {}}})
    assert created.status_code == 200
    before = http.get(f"/machines/counter/i/{slug}").json()
    answer = http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    assert answer.status_code == 500, answer.text
    assert "KeyError" in answer.json()["error"] and "nothing was stored" in answer.json()["error"]
    after = http.get(f"/machines/counter/i/{slug}").json()
    assert after == before
    history = http.get(f"/machines/counter/i/{slug}/events").json()["transitions"]
    assert [t["event"]["type"] for t in history] == ["xstate.init"]
    logs = http.get("/logs", params={"from": "2000-01-01T00:00:00Z", "instance": slug}).json()
    errors = [entry for entry in logs["logs"] if entry["outputType"] == "stderr"]
    assert errors and "Traceback" in errors[0]["log"] and "KeyError" in errors[0]["log"]


def test_after_an_unexpected_500_the_connection_stays_usable(http: httpx.Client) -> None:
    slug = unique("crash")
    assert http.post("/machines/guarded", json={"slug": slug}).status_code == 200
    for _ in range(20):
        crashed = http.post(f"/machines/guarded/i/{slug}/events", json={"event": "crash"})
        assert crashed.status_code == 500 and "error" in crashed.json()
        # The same keep-alive connection takes the next POST: it was not reset.
        assert http.post(f"/machines/guarded/i/{slug}/events", json={"event": "poke"}).is_success


def test_running_out_of_descriptors_is_reported_once_not_per_accept(tmp_path: Path) -> None:
    """Was a traceback for every failed accept: 800 kB of log a second."""
    port = free_port()
    launch = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (60, 60))\n"
        "from smb_tui.cli import main\n"
        f"sys.argv = ['smb-tui', 'local', '--port', '{port}', '--db', r'{tmp_path / 'db'}',"
        " '--no-demo']\n"
        "main()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", launch], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not clients:
            with contextlib.suppress(OSError):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        for _ in range(100):  # well past the 60 descriptors the server may hold
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        time.sleep(3)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
        for client in clients:
            client.close()
    output = err.decode()
    assert output.count("cannot accept connections: [Errno 24]") == 1, output[-3000:]
    assert "out of system resource" not in output


def test_secrets_compared_with_text_that_is_not_ascii_are_refused_not_a_500(
    server: ServerThread,
) -> None:
    """`hmac.compare_digest` raises on a str that is not ASCII: a client can send one in a
    cursor's signature or a deletion's confirmation."""
    with client(server) as http:
        listed = http.get("/machines", params={"cursor": "abc.sïgnature"})
        assert listed.status_code == 400 and listed.json()["parameter"] == "cursor"
        slug = unique("hostile")
        http.post("/machines/counter", json={"slug": slug})
        deleted = http.request(
            "DELETE",
            f"/machines/counter/i/{slug}",
            json={
                "dangerDataWillBeDeletedForever": True,
                "hmacSha256OfMachineInstanceNameWithMachineNameKey": "ünïcode",
            },
        )
        assert deleted.status_code == 400
        assert http.get(f"/machines/counter/i/{slug}").status_code == 200


def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(
    server: ServerThread, http: httpx.Client
) -> None:
    """Only the headers go: the 413 comes without the server waiting for 5 MB (it held
    every body whole before a route saw it: 300 MB took it from 69 to 550 MB)."""
    slug = new_instance(http)
    port = int(server.base_url.rsplit(":", 1)[1])
    token = http.headers["authorization"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {EVENTS.format(slug)} HTTP/1.1\r\nhost: x\r\nauthorization: {token}\r\n"
            "content-type: application/json\r\ncontent-length: 5000000\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"over 4 MB" in body and b"nothing was changed" in body, body
    still_usable(http, slug, transitions=1)


def test_a_body_that_grows_past_the_cap_is_refused(http: httpx.Client) -> None:
    """Sent in chunks, with no length declared: a 413, and the instance unchanged (the
    route saw the whole body and refused the event by its size, 64 MB held)."""
    slug = new_instance(http)

    def chunks() -> Iterator[bytes]:
        yield b'{"event": {"type": "put", "key": "k", "value": "'
        for _ in range(64):
            yield b"a" * (1024 * 1024)
        yield b'"}}'

    answer = http.post(
        EVENTS.format(slug), content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413, answer.text
    assert answer.json() == {
        "error": "the request body is over 4 MB, more than any request of this API takes;"
        " nothing was changed"
    }
    still_usable(http, slug, transitions=1)


async def test_the_app_is_given_no_byte_past_the_cap() -> None:
    """What the routes read of a body that grows past the cap: up to the cap, then the
    refusal (a 413), never the rest of it."""
    from smb_tui.local.body_limit import BodyLimit, BodyTooLarge

    read: list[int] = []

    async def route(scope: object, receive: Any, send: object) -> None:
        while True:
            message = await receive()
            read.append(len(message["body"]))
            if not message["more_body"]:
                return

    pieces = iter([b"x" * 400] * 10)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": next(pieces), "more_body": True}

    limited = BodyLimit(route, limit=1000, upload_limit=4000)
    scope = {"type": "http", "path": "/machines/m/i/i/events", "headers": []}
    with pytest.raises(BodyTooLarge) as refused:
        await limited(scope, receive, None)
    assert refused.value.status_code == 413
    assert sum(read) <= 1000  # the piece that passed the cap was not handed on
    upload = {"type": "http", "path": "/uploads/token", "headers": []}
    read.clear()
    pieces = iter([b"x" * 400] * 11)
    with pytest.raises(BodyTooLarge):
        await limited(upload, receive, None)
    assert 3600 <= sum(read) <= 4000  # an upload's own, larger cap


def test_an_event_under_the_cap_but_over_the_limit_says_which_limit(http: httpx.Client) -> None:
    """The cap is far above what the API takes: an event of 1 MB gets the event's own
    message (400 kB), not the body's."""
    slug = new_instance(http)
    event = {"event": {"type": "put", "key": "k", "value": "a" * (1024 * 1024)}}
    answer = http.post(EVENTS.format(slug), json=event)
    assert answer.status_code == 400, answer.text
    assert "over the 400 kB limit" in answer.json()["error"]
    still_usable(http, slug, transitions=1)

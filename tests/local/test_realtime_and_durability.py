"""Realtime updates over /rt, concurrent senders, paging cursors, and surviving SIGKILL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websockets

from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import (
    MACHINES,
    client,
    free_port,
    history,
    server_with_machines,
    start_server,
    unique,
)
from tests.local.conftest import next_message, run_official, subscribe


def ws_url(server: ServerThread, token: str) -> str:
    return server.base_url.replace("http://", "ws://") + f"/rt?token={token}"


async def test_realtime_update_arrives_after_a_send(server: ServerThread) -> None:
    slug = unique("live")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug})
    token = sign_key_token(server.key, {"sub": "demo-user"})
    async with websockets.connect(ws_url(server, token)) as connection:
        await subscribe(connection, "counter", slug, "r1")
        current = await next_message(connection)
        assert current["type"] == "instance-update"
        assert current["publicContext"] == {}
        async with httpx.AsyncClient(base_url=server.base_url) as http_async:
            await http_async.post(
                f"/machines/counter/i/{slug}/events",
                headers={"authorization": f"Bearer {token}"},
                json={"event": {"type": "increment", "by": 2}},
            )
        update = await next_message(connection)
        assert update == {
            "type": "instance-update",
            "machineName": "counter",
            "machineInstanceName": slug,
            "ts": update["ts"],
            "state": "counting",
            "publicContext": {"count": 2},
            "tags": [],
            "done": False,
        }
        await connection.send(json.dumps({"type": "ping"}))
        assert (await next_message(connection))["type"] == "pong"


async def test_realtime_follows_delayed_transitions(server: ServerThread) -> None:
    slug = unique("live-blink")
    token = sign_key_token(server.key, {"sub": "demo-user"})
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        await http.post("/machines/blink", json={"slug": slug})
        async with websockets.connect(ws_url(server, token)) as connection:
            await subscribe(connection, "blink", slug, "r1")
            await next_message(connection)
            await http.post(f"/machines/blink/i/{slug}/events", json={"event": "switch_on"})
            assert (await next_message(connection))["state"] == "on"
            assert (await next_message(connection))["state"] == "off"


async def test_realtime_errors_name_the_request(server: ServerThread) -> None:
    token = sign_key_token(server.key, {"sub": "mallory"})
    async with websockets.connect(ws_url(server, token)) as connection:
        await subscribe(connection, "counter", "ghost", "missing")
        error = await next_message(connection)
        assert error == {
            "type": "error",
            "requestId": "missing",
            "status": 404,
            "code": None,
            "error": error["error"],
        }
        await connection.send("not json")
        assert (await next_message(connection))["status"] == 400


async def test_realtime_with_a_bad_token_is_refused(server: ServerThread) -> None:
    async with websockets.connect(ws_url(server, "junk")) as connection:
        error = await next_message(connection)
        assert error["type"] == "error" and error["status"] == 403
        # Each subscription hears the refusal under its own requestId, on the same
        # connection: closing it sent the official client into a reconnect loop.
        for request_id in ("first", "second"):
            await subscribe(connection, "counter", "small", request_id)
            refused = await next_message(connection)
            assert refused == {**error, "requestId": request_id}


def test_the_official_client_reports_a_refused_token_once(server: ServerThread) -> None:
    asked = {"SMB_URL": server.base_url, "SMB_MACHINE": "counter", "SMB_INSTANCE": "small"}
    refused = run_official("official_realtime.mjs", SMB_TOKEN="junk", SMB_SECONDS="2", **asked)
    assert refused == {"connections": 1, "errors": [{"status": 403, "code": None}], "states": []}
    token = sign_key_token(server.key, {"sub": "demo-user"})
    allowed = run_official("official_realtime.mjs", SMB_TOKEN=token, SMB_SECONDS="1", **asked)
    assert allowed == {"connections": 1, "errors": [], "states": ["counting"]}


def test_concurrent_senders_lose_nothing(server: ServerThread) -> None:
    slug = unique("contended")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug})

    def send_ten(_: int) -> list[int]:
        with client(server) as http:
            return [
                http.post(
                    f"/machines/counter/i/{slug}/events", json={"event": "increment"}
                ).status_code
                for _ in range(10)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(send_ten, range(8)) for s in batch]
    assert statuses == [200] * 80
    with client(server) as http:
        assert http.get(f"/machines/counter/i/{slug}").json()["publicContext"] == {"count": 80}
        items, cursor = [], None
        while True:
            body = http.get(
                f"/machines/counter/i/{slug}/events", params={"cursor": cursor} if cursor else {}
            ).json()
            items += body["transitions"]
            cursor = body.get("cursor")
            if not cursor:
                break
    assert len(items) == 81  # one per applied event, and the initial one


def test_small_pages_walk_every_list(tmp_path: Path) -> None:
    with start_server(tmp_path, page_size=3, busy_history=20) as small, client(small) as http:
        for n in range(7):
            http.post("/machines/scratch", json={"slug": f"c{n}"})
        for n in range(9):
            http.post(
                "/machines/scratch/i/c0/events",
                json={"event": {"type": "put", "key": "n", "value": n}},
            )
        for path, key, expected in (
            ("/machines", "machines", 12),  # eight demo machines (two XState) and four for tests
            ("/machines/scratch/i", "instances", 7),
            ("/machines/scratch/i/c0/events", "transitions", 10),
            ("/machines/order/v", "versions", 2),
        ):
            seen, cursors, cursor = [], [], None
            while True:
                body = http.get(path, params={"cursor": cursor} if cursor else {}).json()
                assert len(body[key]) <= 3
                seen += body[key]
                cursor = body.get("cursor")
                if not cursor:
                    break
                cursors.append(cursor)
            assert len(seen) == expected, path
            assert len(set(cursors)) == len(cursors)
            assert len({json.dumps(item, sort_keys=True) for item in seen}) == expected


def local_command(db: Path, port: int, *extra: str) -> list[str]:
    """`smb-tui local` on `port` over `db`, with only the test machines."""
    return [
        sys.executable,
        "-m",
        "smb_tui",
        "local",
        "--port",
        str(port),
        "--db",
        str(db),
        "--no-demo",
        *extra,
    ]


def start_process(
    db: Path, key: LocalKey, port: int, secret_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """The server in a process of its own; the secret from the environment or a file,
    never on the command line, where `ps` would show it."""
    where = ["--secret-file", str(secret_file)] if secret_file else []
    process = subprocess.Popen(
        local_command(db, port, "--machines", str(MACHINES), "--key-id", key.key_id, *where),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **({} if secret_file else {"STATEBACKED_SECRET_KEY": key.secret}),
        },
    )
    assert key.secret not in " ".join(map(str, process.args))  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server process did not start")


def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    key, port, db = LocalKey.generate(), free_port(), tmp_path / "kill.db"
    token = sign_key_token(key, {"sub": "demo-user"})
    headers = {"authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    process = start_process(db, key, port)
    try:
        httpx.post(f"{base}/machines/scratch", json={"slug": "durable"}, headers=headers)
        for n in range(50):
            response = httpx.post(
                f"{base}/machines/scratch/i/durable/events",
                json={"event": {"type": "put", "key": "n", "value": n}},
                headers=headers,
            )
            assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    process = start_process(db, key, port)
    try:
        state = httpx.get(f"{base}/machines/scratch/i/durable", headers=headers).json()
        assert state["publicContext"] == {"n": 49}
        events = httpx.get(f"{base}/machines/scratch/i/durable/events", headers=headers).json()
        assert len(events["transitions"]) == 51
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, "SIGTERM should end the server cleanly"


WATCH_THE_COLLECTOR = """
import gc, os, signal, sys, threading, time, urllib.request

def watch(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until it serves
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not gc.get_freeze_count() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(gc.isenabled(), gc.get_freeze_count(), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, args=(sys.argv[sys.argv.index("--port") + 1],)).start()
from smb_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_serving_process_keeps_what_its_start_made_out_of_the_collector(
    tmp_path: Path,
) -> None:
    """`smb-tui local`, once it serves: Python's cycle collector on (it is off while the
    server starts), and what the start made (tens of thousands of objects that live as
    long as the process) set aside, so that no full collection walks it all again."""
    command = local_command(tmp_path / "gc.db", free_port())
    process = subprocess.run(
        [sys.executable, "-c", WATCH_THE_COLLECTOR, *command[3:]],
        capture_output=True,
        text=True,
        timeout=90,
    )
    enabled, frozen = process.stdout.splitlines()[-1].split()  # after its own lines
    assert enabled == "True"
    assert int(frozen) > 10_000, "start-up's objects should be set aside from the collector"
    assert process.returncode == 0, process.stderr


def test_a_port_in_use_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    key, port = LocalKey.generate(), free_port()
    first = start_process(tmp_path / "a.db", key, port)
    try:
        second = subprocess.run(
            local_command(tmp_path / "b.db", port),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert "address already in use" in second.stderr.lower()
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0


def test_the_secret_comes_from_a_file(tmp_path: Path) -> None:
    key, port = LocalKey.generate(), free_port()
    secret_file = tmp_path / "secret"
    secret_file.write_text(key.secret + "\n")
    process = start_process(tmp_path / "s.db", key, port, secret_file)
    try:
        token = sign_key_token(key, {"sub": "demo-user"})
        answer = httpx.get(
            f"http://127.0.0.1:{port}/machines", headers={"authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


async def test_allow_read_is_checked_for_every_update(server: ServerThread) -> None:
    slug = unique("owned")
    with client(server) as http:
        assert http.post("/machines/guarded", json={"slug": slug}).status_code == 200
    token = sign_key_token(server.key, {"sub": "alice"})
    async with websockets.connect(ws_url(server, token)) as connection:
        await subscribe(connection, "guarded", slug, "alice-1")
        assert (await next_message(connection))["type"] == "instance-update"
        with client(server) as http:  # the document changes hands
            event = {"type": "give", "owner": "bob", "secret": "for bob only"}
            assert http.post(f"/machines/guarded/i/{slug}/events", json={"event": event}).is_success
            http.post(f"/machines/guarded/i/{slug}/events", json={"event": "poke"})
        refused = await next_message(connection)
        assert refused["type"] == "error" and refused["status"] == 403
        assert refused["requestId"] == "alice-1"
        assert "for bob only" not in json.dumps(refused)
        await connection.send(json.dumps({"type": "ping"}))
        assert (await next_message(connection))["type"] == "pong"  # and nothing else came


async def test_a_subscriber_that_stops_reading_gets_the_latest_state(server: ServerThread) -> None:
    slug = unique("flood")
    with client(server) as http:
        http.post("/machines/scratch", json={"slug": slug})
    token = sign_key_token(server.key, {"sub": "demo-user"})
    # A small receive buffer, as a slow client over a real network has: loopback's
    # autotuned 32 MB would hide the backlog in the kernel.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    async with websockets.connect(ws_url(server, token), sock=sock, max_queue=1) as connection:
        await subscribe(connection, "scratch", slug, "slow")
        with client(server) as http:
            for n in range(120):  # 300 kB that do not compress: far more than buffers hold
                value = f"{n:03d}" + base64.b64encode(os.urandom(225_000)).decode()
                event = {"type": "put", "key": "v", "value": value}
                http.post(f"/machines/scratch/i/{slug}/events", json={"event": event})
        received = []
        while True:
            try:
                message = json.loads(await asyncio.wait_for(connection.recv(), 2))
            except TimeoutError:
                break
            received.append(message["publicContext"].get("v", "")[:3])
        assert received[-1] == "119", "the newest state must arrive"
        assert len(received) < 100, f"{len(received)} updates queued for a slow reader"


def test_a_database_from_before_indexes_fanned_out_keeps_its_entries(tmp_path: Path) -> None:
    import sqlite3

    from smb_tui.local.store import IndexRow, Store

    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as old:  # the index table as it was: one value an instance
        old.executescript(
            "INSERT INTO machines VALUES ('m', '2026-01-01T00:00:00Z');"
            "INSERT INTO instances (id, machine, slug, created_at, version_id, state_ids,"
            " context, ts) VALUES (1, 'm', 'a', '', 'v', '[]', '{}', 0),"
            " (2, 'm', 'b', '', 'v', '[]', '{}', 0);"
            "DROP TABLE index_entries;"
            "CREATE TABLE index_values (machine TEXT NOT NULL, name TEXT NOT NULL,"
            " instance_id INTEGER NOT NULL, instance_slug TEXT NOT NULL, value,"
            " PRIMARY KEY (machine, name, instance_id));"
            "INSERT INTO index_values VALUES ('m', 'email', 1, 'a', 'a@example.com');"
            "INSERT INTO index_values VALUES ('m', 'email', 2, 'b', NULL);"
        )
    store = Store(path)
    try:
        page = store.query_index("m", "email", None, None, False, None, 10)
        assert page.items == [IndexRow("a", "a@example.com")]
        tables = {r[0] for r in store.connection.execute("SELECT name FROM sqlite_master")}
        assert "index_values" not in tables
    finally:
        store.close()
    Store(path).close()  # opened again: nothing left to move, no error


@pytest.mark.parametrize(
    "dropped",
    [
        ["parent"],  # a database from before persistent children
        ["history"],  # from before history pseudo-states were kept
        ["parent", "history"],  # from before both
    ],
)
def test_a_database_from_before_a_column_gains_it(tmp_path: Path, dropped: list[str]) -> None:
    import sqlite3

    from smb_tui.local.store import Store

    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as old:  # the instances table as it was
        old.executescript(
            "INSERT INTO machines VALUES ('m', '2026-01-01T00:00:00Z');"
            "INSERT INTO instances (id, machine, slug, created_at, version_id, state_ids,"
            " context, ts) VALUES (1, 'm', 'a', '', 'v', '[\"on\"]', '{}', 0);"
            + "".join(f"ALTER TABLE instances DROP COLUMN {column};" for column in dropped)
        )
    store = Store(path)
    try:
        row = store.get_instance("m", "a")
        assert row is not None and row.parent is None
        assert row.snapshot.state == ["on"] and row.snapshot.history == {}
    finally:
        store.close()


def test_a_history_state_leads_back_after_the_server_restarts(tmp_path: Path) -> None:
    with start_server(tmp_path, demo=False) as server, client(server) as http:
        http.post("/machines/player", json={"slug": "radio"})
        for event in ("speed_up", "power_off"):
            http.post("/machines/player/i/radio/events", json={"event": event})
    with start_server(tmp_path, demo=False) as server, client(server) as http:
        back = http.post("/machines/player/i/radio/events", json={"event": "power_on_as_left"})
        assert back.json()["state"] == {"on": {"playing": "fast"}}


SLOW_LAMP = """
import asyncio
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion


async def warm_up(machine, **_):
    await asyncio.sleep(0.6)


class Lamp(StateChart):
    off = State(initial=True)
    warming = State(invoke=warm_up)
    on = State()
    switch = off.to(warming, on="count") | on.to(off, on="count")
    bump = off.to.itself(on="count") | on.to.itself(on="count")
    done_invoke_warming = warming.to(on)

    def count(self):
        self.model.context["n"] = self.model.context.get("n", 0) + 1


machine = MachineDefinition(
    slug="lamp",
    versions=[MachineVersion("v1", Lamp), MachineVersion("v2", Lamp, migrate=lambda s: s)],
)
"""


def test_a_desired_version_set_while_an_event_runs_is_kept(tmp_path: Path) -> None:
    """The event's commit wrote the desired version it had read before it ran: a PUT
    answered 201 meanwhile was undone, and the instance never upgraded."""
    server = server_with_machines(tmp_path, {"lamp.py": SLOW_LAMP})
    with server, client(server) as http:
        v2, v1 = (v["id"] for v in http.get("/machines/lamp/v").json()["versions"])
        http.post("/machines/lamp", json={"slug": "desk", "machineVersionId": v1})
        with ThreadPoolExecutor(max_workers=1) as pool, client(server) as sender:
            switched = pool.submit(
                sender.post, "/machines/lamp/i/desk/events", json={"event": "switch"}
            )
            time.sleep(0.2)  # the event is running: its service takes 0.6 s
            assert not switched.done()
            put = http.put("/machines/lamp/i/desk/v", json={"targetMachineVersionId": v2})
            assert put.status_code == 201
            assert switched.result().json()["state"] == "on"
        admin = http.get("/machines/lamp/i/desk/admin").json()
        assert admin["machineVersion"]["id"] == v1
        assert admin["desiredMachineVersion"]["id"] == v2
        http.post("/machines/lamp/i/desk/events", json={"event": "switch"})
        assert http.get("/machines/lamp/i/desk/admin").json()["machineVersion"]["id"] == v2


def test_events_applied_by_the_server_itself_wait_for_the_running_event(tmp_path: Path) -> None:
    """The demo's seeding (apply_events) read the instance before it waited for its lock:
    an event sent meanwhile (the dashboard opens on the seeded instance) was undone."""
    server = server_with_machines(tmp_path, {"lamp.py": SLOW_LAMP})
    with server, client(server) as http:
        http.post("/machines/lamp", json={"slug": "desk"})
        with ThreadPoolExecutor(max_workers=1) as pool, client(server) as sender:
            switched = pool.submit(
                sender.post, "/machines/lamp/i/desk/events", json={"event": "switch"}
            )
            time.sleep(0.2)  # the event is running: its service takes 0.6 s
            assert not switched.done()
            service, loop = server.server.service, server.server.loop
            assert service is not None and loop is not None
            asyncio.run_coroutine_threadsafe(
                service.apply_events("lamp", "desk", [{"type": "bump"}]), loop
            ).result(timeout=10)
            assert switched.result().status_code == 200
        admin = http.get("/machines/lamp/i/desk/admin").json()
        assert admin["context"] == {"n": 2}
        assert [t["event"]["type"] for t in history(http, "lamp", "desk")] == [
            "bump",
            "done.invoke.warming",
            "switch",
            "xstate.init",
        ]

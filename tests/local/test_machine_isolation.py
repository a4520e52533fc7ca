"""Machine code is untrusted: what it can do to the server, to other machines and to other
instances, through the HTTP API (tests/xstate/hostile.ts and subvert.ts do the harm)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from smb_tui.api.wire import decode_services
from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.engines.xstate_pool import WorkerPool
from smb_tui.local.server import ServerThread
from tests.conftest import client, history, server_with_machines, start_server, unique


def hostile(http: httpx.Client, slug: str, event: object) -> httpx.Response:
    return http.post(f"/machines/hostile/i/{slug}/events", json={"event": event})


def new(http: httpx.Client, machine: str) -> str:
    slug = unique(machine)
    assert http.post(f"/machines/{machine}", json={"slug": slug}).status_code == 200
    return slug


def logs_of(http: httpx.Client, machine: str, slug: str) -> list[str]:
    answer = http.get(
        "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": machine, "instance": slug}
    )
    return [entry["log"] for entry in answer.json()["logs"]]


def pool_of(server: ServerThread) -> WorkerPool:
    return server.server.loader.pool


def full_strength(server: ServerThread) -> WorkerPool:
    """The pool with every worker ready (an earlier test may have had one killed)."""
    pool = pool_of(server)
    deadline = time.monotonic() + 30
    while len([w for w in pool.workers if w.ready and not w.dead]) < pool.size:
        assert time.monotonic() < deadline, "the pool did not get back to full strength"
        time.sleep(0.05)
    return pool


def test_a_runaway_event_is_cut_while_other_machines_are_answered(
    xserver: ServerThread,
) -> None:
    full_strength(xserver)  # a second worker, idle, for the other machine's event
    with client(xserver, sub="owner") as http:
        slug = new(http, "hostile")
        door = new(http, "door")
        before = history(http, "hostile", slug)
        with ThreadPoolExecutor(1) as pool:
            runaway = pool.submit(hostile, http, slug, "runaway")
            time.sleep(0.2)  # in flight: its worker spins
            with client(xserver, sub="owner") as other:
                opened = other.post(f"/machines/door/i/{door}/events", json={"event": "open"})
                assert opened.status_code == 200 and opened.json()["state"] == "open"
                assert other.get("/openapi.json").status_code == 200
            assert not runaway.done()  # answered before the runaway's deadline
            cut = runaway.result()
        assert cut.status_code == 500 and cut.json()["code"] == "machine-cpu-limit"
        assert history(http, "hostile", slug) == before  # nothing stored
        # The next event finds a worker (a fresh one, or the other).
        assert hostile(http, slug, "hello").json()["publicContext"] == {"hello": True}


def test_a_microtask_loop_is_cut_and_charged_to_its_own_event(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        spinner, bystander = new(http, "hostile"), new(http, "hostile")
        cut = hostile(http, spinner, "microtasks")
        # Mostly the loop spins and its own event is cut. In about 1 run in 8 (alone on
        # this machine) the event is answered 200 and the loop is found not running
        # (the worker idle two seconds later, the next event answered in 10 ms): why it
        # stops is not understood yet (noted on the issue). Either way it must not be
        # charged to the next event, nor hold a worker.
        if cut.status_code != 200:
            assert cut.status_code == 500 and cut.json()["code"] == "machine-cpu-limit"
        started = time.monotonic()
        after = hostile(http, bystander, "hello")
        assert after.status_code == 200, after.text
        assert time.monotonic() - started < 1.0, (
            "the next event waited on the loop (1 s: a call's CPU limit)"
        )


def test_work_a_run_leaves_behind_never_runs(xserver: ServerThread) -> None:
    """A timer set by an event that settled at once would spin after the answer: it is
    dropped with its run, so the next event (another instance's) is not charged for it."""
    with client(xserver, sub="owner") as http:
        first, second = new(http, "hostile"), new(http, "hostile")
        for _ in range(3):
            assert hostile(http, first, "spinAfter").status_code == 200
            time.sleep(0.1)  # past the timer's 20 ms
            answer = hostile(http, second, "hello")
            assert answer.status_code == 200, answer.text


def test_a_timer_flood_is_refused_at_once_and_the_server_keeps_answering(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        slug = new(http, "hostile")
        flooded = hostile(http, slug, "timerFlood")
        assert flooded.status_code == 500 and flooded.json()["code"] == "machine-error"
        assert "at most 1000 timers" in flooded.json()["error"]
        assert http.get("/machines").status_code == 200
        assert hostile(http, slug, "hello").status_code == 200


def test_what_machine_code_logs_is_kept_cut_or_refuses_the_event_past_what_is_read(
    xserver: ServerThread,
) -> None:
    """A line of 1,000,000 characters is kept cut at 64,000; 70 MB logged in one run is
    more than the server reads of a worker's answer: the event is refused saying so (it
    said the worker had died), the worker replaced, and the next event runs. Seventy MB
    of lines and their answer's 70 MB of JSON are also past the isolate's 128 MB: which
    limit comes first depends on what the heap held before (the order tests ran in), and
    either is `machine-memory-limit` (the heap's, met after the run, was "the machine's
    code failed")."""
    with client(xserver, sub="owner") as http:
        slug = new(http, "hostile")
        answer = hostile(http, slug, {"type": "shout", "size": 1_000_000})
        assert answer.status_code == 200, answer.text
        (line,) = logs_of(http, "hostile", slug)
        assert line.startswith("x" * 64_000 + "… [smb-tui local kept 64,000 of")
        answer = hostile(http, slug, {"type": "shout", "size": 10_000_000, "lines": 7})
        assert answer.status_code == 500
        assert answer.json()["code"] == "machine-memory-limit", answer.text
        error = answer.json()["error"]
        assert "answered more than 64 MB (what it logged" in error or "128 MB memory" in error
        assert hostile(http, slug, "hello").status_code == 200


def test_after_a_memory_bomb_small_events_run(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = new(http, "errands")
        bomb = http.post(f"/machines/errands/i/{slug}/events", json={"event": "hog"})
        assert bomb.json()["code"] == "machine-memory-limit"
        for _ in range(5):  # each allocates a little; the bomb's heap is gone
            answer = http.post(f"/machines/errands/i/{slug}/events", json={"event": "web"})
            assert answer.status_code == 200, answer.text
            time.sleep(0.2)


def test_module_state_and_globals_never_cross_instances(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        alice, bob = new(http, "hostile"), new(http, "hostile")
        assert hostile(http, alice, {"type": "remember", "name": "alice"}).json()[
            "publicContext"
        ] == {"previous": None}
        assert hostile(http, bob, {"type": "remember", "name": "bob"}).json()["publicContext"] == {
            "previous": None
        }
        stasher, reader = new(http, "subvert"), new(http, "subvert")
        http.post(f"/machines/subvert/i/{stasher}/events", json={"event": "stash"})
        leaked = http.post(f"/machines/subvert/i/{reader}/events", json={"event": "leak"})
        assert leaked.json()["publicContext"] == {"leaked": None}


def test_a_module_cannot_take_over_the_host_or_another_machine(xserver: ServerThread) -> None:
    """subvert.ts tried, when it loaded, to replace the functions the server calls and to
    reach the host's own fetch and sleep."""
    with client(xserver, sub="owner") as http:
        slug = new(http, "subvert")
        probe = http.post(f"/machines/subvert/i/{slug}/events", json={"event": "probe"})
        seen = probe.json()["publicContext"]
        door = new(http, "door")
    # no __host: the host's functions are closed over; __statebacked_rt is the runtime
    # @statebacked/machine asks for (spawnPersistentInstance), frozen
    assert seen["globals"] == ["__smb", "__statebacked_rt"]
    assert seen["crypto"] == "function"  # the web APIs cannot be replaced
    for name in ("define __smb", "call begin", "host fetch", "host sleep"):
        assert seen["tried"][name].startswith("refused"), (name, seen["tried"][name])
    # Other machines' authorizers still decide: the door's say no to these.
    with client(xserver, sub="intruder") as http:
        refused = http.post(f"/machines/door/i/{door}/events", json={"event": "open"})
        assert refused.status_code == 403
    with client(xserver, sub="stranger") as http:
        assert http.get(f"/machines/door/i/{door}").status_code == 403


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A web server on 127.0.0.1 that notes each request: /big answers 12 MB of gzip'd
    zeros, /away redirects to another origin, /ok says ok."""
    seen: list[str] = []
    import gzip

    big = gzip.compress(b"\0" * (12 * 1024 * 1024))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path == "/away":
                self.send_response(302)
                self.send_header("location", "http://localhost:9/elsewhere")
                self.end_headers()
                return
            body = big if self.path == "/big" else b'{"openapi": "ok"}'
            self.send_response(200)
            if self.path == "/big":
                self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_the_hosts_fetch_is_refused_without_allow_fetch(
    xserver: ServerThread, listener: tuple[str, list[str]]
) -> None:
    base, seen = listener
    with client(xserver, sub="owner") as http:
        slug = new(http, "subvert")
        answer = http.post(
            f"/machines/subvert/i/{slug}/events",
            json={"event": {"type": "reach", "url": f"{base}/ok"}},
        )
    assert answer.json()["publicContext"]["reached"].startswith("refused")
    assert seen == []  # nothing reached the listener


def test_fetch_with_allow_fetch_stays_within_its_origin_and_its_cap(
    modules: Path, tmp_path: Path, listener: tuple[str, list[str]]
) -> None:
    base, seen = listener
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, allow_fetch=True) as online,
        client(online, sub="owner") as http,
    ):
        slug = new(http, "errands")

        def fetch(path: str) -> dict[str, object]:
            event = {"type": "fetchIt", "url": f"{base}{path}"}
            answer = http.post(f"/machines/errands/i/{slug}/events", json={"event": event})
            assert answer.status_code == 200, answer.text
            public: dict[str, object] = answer.json()["publicContext"]
            return public

        assert fetch("/ok")["fetched"] == {"status": 200, "kind": "openapi"}
        assert "another origin" in str(fetch("/away")["error"])
        assert "over 10485760 bytes" in str(fetch("/big")["error"])
    assert seen == ["/ok", "/away", "/big"]


def test_log_lines_are_filed_under_the_instance_that_wrote_them(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        first, second = new(http, "hostile"), new(http, "hostile")
        with ThreadPoolExecutor(2) as pool:
            late = pool.submit(hostile, http, first, {"type": "lateLog", "name": first, "ms": 400})
            time.sleep(0.1)
            early = pool.submit(
                hostile, http, second, {"type": "lateLog", "name": second, "ms": 100}
            )
            assert late.result().status_code == early.result().status_code == 200
        assert logs_of(http, "hostile", first) == [f"late line of {first}"]
        assert logs_of(http, "hostile", second) == [f"late line of {second}"]


def test_a_service_id_no_header_can_carry_is_sent_encoded(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = new(http, "hostile")
        answer = hostile(http, slug, "stall")  # its service outlives the 1 s settle time-out
        assert answer.status_code == 200 and answer.json()["state"] == "stalled"
        header = answer.headers["x-smb-stopped-services"]
        assert header.isascii() and decode_services(header) == ("go→ café",)
        stalls = [row for row in history(http, "hostile", slug) if row["event"]["type"] == "stall"]
        assert len(stalls) == 1


def test_a_worker_killed_mid_event_is_replaced(xserver: ServerThread) -> None:
    pool = full_strength(xserver)
    with client(xserver, sub="owner") as http:
        slug = new(http, "hostile")
        replaced = pool.replaced
        with ThreadPoolExecutor(1) as threads:
            slow = threads.submit(hostile, http, slug, "slow")  # settles after 3 s
            deadline = time.monotonic() + 5
            while not [w for w in pool.workers if w.busy]:
                assert time.monotonic() < deadline, "the event never reached a worker"
                time.sleep(0.02)
            [busy] = [w for w in pool.workers if w.busy]
            os.kill(busy.pid, signal.SIGKILL)
            lost = slow.result()
        assert lost.status_code == 500 and lost.json()["code"] == "machine-worker-lost"
        assert "SIGKILL" in lost.json()["error"]
        assert http.get(f"/machines/hostile/i/{slug}").json()["state"] == "idle"
        assert hostile(http, slug, "hello").status_code == 200
        deadline = time.monotonic() + 30
        while len([w for w in pool.workers if w.ready]) < pool.size:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.05)
    assert pool.replaced == replaced + 1


def test_twenty_servers_start_and_stop_in_one_process_two_at_a_time(
    modules: Path, tmp_path: Path
) -> None:
    for round in range(10):
        pair = [
            start_server(tmp_path / f"{round}-{i}", machines_dir=modules, demo=False)
            for i in range(2)
        ]
        try:
            for server in pair:
                with client(server, sub="owner") as http:
                    slug = new(http, "door")
                    answer = http.post(f"/machines/door/i/{slug}/events", json={"event": "open"})
                    assert answer.json()["state"] == "open"
        finally:
            for server in pair:
                server.stop()


def test_no_v8_in_the_servers_process_and_a_thread_made_first_is_safe(modules: Path) -> None:
    """The crash this replaces: a thread made before V8 was initialized segfaulted when it
    ran JavaScript (CPUs with memory protection keys). The server's process never loads V8."""
    script = textwrap.dedent(
        f"""
        import sys, tempfile, threading, time
        from pathlib import Path
        early = threading.Thread(target=time.sleep, args=(2,))
        early.start()  # before any server or V8 exists
        from tests.conftest import client, start_server
        tmp = Path(tempfile.mkdtemp())
        for i in range(2):
            with start_server(tmp / str(i), machines_dir=Path({str(modules)!r}), demo=False) as s:
                with client(s, sub="owner") as http:
                    assert http.post("/machines/door", json={{"slug": "d"}}).status_code == 200
        early.join()
        print("v8 here:", "py_mini_racer" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert "v8 here: False" in done.stdout


@contextmanager
def local_process(
    machines: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """`smb-tui local` on `machines` in a process of its own, once it answers, and a client
    of it (as `owner`); killed after, whatever the test did to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = LocalKey.generate()
    command = [sys.executable, "-c", "import sys; from smb_tui.cli import main; sys.exit(main())"]
    command += ["local", "--no-demo", "--port", str(port)]
    command += ["--machines", str(machines), "--db", str(tmp_path / "local.db")]
    command += ["--key-id", key.key_id, f"--secret={key.secret}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = sign_key_token(key, {"sub": "owner"})
    try:
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {token}"}
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                http.get("/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield server, http
    finally:
        server.kill()
        server.wait()


def test_sigterm_stops_a_server_whose_machine_runs_away(modules: Path, tmp_path: Path) -> None:
    with local_process(modules, tmp_path) as (server, http):
        http.post("/machines/hostile", json={"slug": "away"}, timeout=10)
        with ThreadPoolExecutor(1) as pool:
            runaway = pool.submit(
                http.post, "/machines/hostile/i/away/events", json={"event": "runaway"}
            )
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=15) == 0  # having cut the runaway and answered it
            assert runaway.result().json()["code"] == "machine-cpu-limit"


def test_the_server_serves_while_its_workers_start_and_runs_no_machine_code_before_all_are(
    modules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What needs no machine code (the machine list) is answered while the pool's other
    workers start; an event waits for all of them, so that a runaway never has the
    only worker to itself."""
    release = threading.Event()
    start_worker = WorkerPool._start_worker

    async def held(pool: WorkerPool) -> None:
        import asyncio

        await asyncio.to_thread(release.wait, 30)  # a worker slow to start
        await start_worker(pool)

    monkeypatch.setattr(WorkerPool, "_start_worker", held)
    try:
        with start_server(tmp_path, machines_dir=modules, demo=False, workers=2) as server:
            pool = pool_of(server)
            with client(server, sub="owner") as http, ThreadPoolExecutor(1) as threads:
                machines = http.get("/machines").json()["machines"]
                assert "hostile" in [m["slug"] for m in machines]
                assert len([w for w in pool.workers if w.ready]) == 1  # the other: held
                slug = unique("hostile")
                created = threads.submit(http.post, "/machines/hostile", json={"slug": slug})
                time.sleep(0.5)
                assert not created.done()  # its machine code waits for the whole pool
                assert not [w for w in pool.workers if w.busy]
                release.set()
                assert created.result(timeout=30).status_code == 200
                assert len([w for w in pool.workers if w.ready]) == 2
    finally:
        release.set()


def test_a_python_machine_that_loops_for_ever_is_stopped_and_the_server_goes_on(
    server: ServerThread,
) -> None:
    """Python machines run in the server's process: an action looping for ever held the
    loop, every other request and SIGTERM, for good. It is stopped once it has spent the
    XState engine's CPU limit (1 s) without letting the loop turn: a 500 with that code,
    what it printed in the logs, nothing stored; other requests are answered meanwhile
    by the time it is stopped, and after it."""
    with client(server) as http:
        slug = new(http, "scratch")
        before = history(http, "scratch", slug)
        with ThreadPoolExecutor(1) as pool:
            spinning = pool.submit(
                http.post, f"/machines/scratch/i/{slug}/events", json={"event": "spin"}
            )
            with client(server) as other:
                listed = other.get("/machines", timeout=30)  # waits while the loop is held
                assert listed.status_code == 200
            stopped = spinning.result(timeout=30)
        assert stopped.status_code == 500
        assert stopped.json()["code"] == "machine-cpu-limit"
        assert "1 s CPU limit" in stopped.json()["error"]
        assert history(http, "scratch", slug) == before  # nothing stored
        assert http.get(f"/machines/scratch/i/{slug}").json()["publicContext"] == {}
        printed = logs_of(http, "scratch", slug)
        assert printed[0] == "spinning"
        # Where it was stopped: the line of the loop, for its author.
        assert printed[1].startswith("smb-tui local: stopped past its 1 s CPU limit, here:")
        assert "in spin_for" in printed[1] and "HeldTooLong" in printed[1]
        # The instance and the server go on: a short spin is not stopped.
        sent = http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "spin", "seconds": 0.2}},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["publicContext"] == {"spun": True}


def test_sigterm_stops_a_server_whose_python_machine_loops_for_ever(tmp_path: Path) -> None:
    """SIGTERM while a python machine loops: the loop is stopped, the event answered with
    the CPU limit, and the server ends (it ignored SIGTERM for good)."""
    with local_process(Path(__file__).parent.parent / "machines", tmp_path) as (server, http):
        http.post("/machines/scratch", json={"slug": "away"}, timeout=10)
        with ThreadPoolExecutor(1) as pool:
            spinning = pool.submit(
                http.post, "/machines/scratch/i/away/events", json={"event": "spin"}, timeout=30
            )
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=15) == 0
            assert spinning.result().json()["code"] == "machine-cpu-limit"


SPINNERS = """
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion


def spin(*_):
    while True:
        pass


async def busy_job(**_):
    spin()


class Gate(StateChart):
    shut = State(initial=True)
    ajar = State()
    working = State(invoke=busy_job)
    nudge = shut.to(ajar, cond="stuck") | shut.to.itself() | ajar.to(shut)
    work = shut.to(working)
    done_invoke_working = working.to(shut)

    def stuck(self, payload):
        if payload.get("spin"):
            spin()
        return False


def careful(request):
    if request.auth_context.get("sub") == "spinner":
        spin()
    return True


machine = MachineDefinition(
    slug="gate",
    versions=[MachineVersion("v1", Gate, allow_write=careful)],
    indexes={"stuck": lambda context: spin() if context.get("spin") else 1},
)
"""


def test_a_guard_an_authorizer_and_an_index_selector_that_loop_are_stopped(
    tmp_path: Path,
) -> None:
    """Each kind of python machine code the server calls is stopped as an action is: a
    guard fails its event (500), as does an invoked service (a task of its own; the
    event went on as if it had ended), an authorizer refuses it (403), an index selector
    selects nothing and the event is stored."""
    with (
        server_with_machines(tmp_path, {"gate.py": SPINNERS}) as server,
        client(server, sub="someone") as http,
    ):
        slug = new(http, "gate")
        guard = http.post(
            f"/machines/gate/i/{slug}/events",
            json={"event": {"type": "nudge", "spin": True}},
        )
        assert guard.status_code == 500 and guard.json()["code"] == "machine-cpu-limit"
        service = http.post(f"/machines/gate/i/{slug}/events", json={"event": "work"})
        assert service.status_code == 500 and service.json()["code"] == "machine-cpu-limit"
        assert any("in busy_job" in line for line in logs_of(http, "gate", slug))
        assert http.get(f"/machines/gate/i/{slug}").json()["state"] == "shut"
        with client(server, sub="spinner") as spinner:
            refused = spinner.post(f"/machines/gate/i/{slug}/events", json={"event": "nudge"})
        assert refused.status_code == 403
        assert "CPU limit" in "\n".join(logs_of(http, "gate", slug))
        indexed = http.post("/machines/gate", json={"slug": unique("gate"), "context": {"spin": 1}})
        assert indexed.status_code == 200, indexed.text
        assert (
            http.post(f"/machines/gate/i/{slug}/events", json={"event": "nudge"}).status_code == 200
        )

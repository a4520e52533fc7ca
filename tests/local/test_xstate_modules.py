"""XState machine modules on V8 through the HTTP API, built from tests/xstate/*.ts with
esbuild as `smply` builds them. Skipped (and counted) when node and npm are missing."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smb_tui.local.server import ServerThread
from tests.conftest import client, start_server, unique
from tests.local.test_events_and_history import history

SOURCES = Path(__file__).parent.parent / "xstate"
SMPLY_FLAGS = ["--bundle", "--format=esm", "--platform=browser", "--minify", "--keep-names"]


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test machines as bundles: npm's xstate@4 and esbuild, then one build each."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to build XState modules")
    work = tmp_path_factory.mktemp("xstate-build")
    installed = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "xstate@4", "esbuild"],
        cwd=work,
        check=False,
        capture_output=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install xstate@4 and esbuild: {installed.stderr[-300:]!r}")
    out = tmp_path_factory.mktemp("machines")
    for source in SOURCES.glob("*.ts"):
        copy = work / source.name  # beside node_modules, where esbuild finds xstate
        copy.write_text(source.read_text())
        subprocess.run(
            [
                str(work / "node_modules" / ".bin" / "esbuild"),
                str(copy),
                *SMPLY_FLAGS,
                f"--outfile={out / (source.stem + '.js')}",
            ],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=120,
        )
    (out / "broken.js").write_text("const x = ;\nexport{x as default};\n")
    return out


@pytest.fixture(scope="module")
def xserver(modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with start_server(tmp_path_factory.mktemp("xstate"), machines_dir=modules, demo=False) as s:
        yield s


def send(http: httpx.Client, slug: str, event: object) -> httpx.Response:
    return http.post(f"/machines/door/i/{slug}/events", json={"event": event})


def test_a_module_runs_with_xstates_semantics(xserver: ServerThread) -> None:
    slug = unique("door")
    with client(xserver, sub="owner") as http:
        created = http.post("/machines/door", json={"slug": slug}).json()
        assert created["state"] == "closed"
        assert created["publicContext"] == {"opened": 0}  # `secret` stays private
        assert send(http, slug, "lock").json()["tags"] == ["locked"]
        wrong = send(http, slug, {"type": "unlock", "code": "guess"}).json()
        assert wrong["state"] == "locked"  # the guard said no
        right = send(http, slug, {"type": "unlock", "code": "hinge-code"}).json()
        assert right["state"] == "closed"
        opened = send(http, slug, "open").json()
        assert opened["state"] == "open" and opened["tags"] == ["open"]
        assert opened["publicContext"]["opened"] == 1
        admin = http.get(f"/machines/door/i/{slug}/admin").json()
        assert admin["context"]["secret"] == "hinge-code"
        done = send(http, slug, "close")
        done = send(http, slug, "smash").json()
        assert done["state"] == "broken" and done["done"] is True
        events = [row["event"] for row in history(http, "door", slug)]
        assert events[0] == {"type": "smash"}
        assert {"type": "unlock", "code": "guess"} in events


def test_a_delayed_transition_is_fired_by_the_server(xserver: ServerThread) -> None:
    slug = unique("door-after")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
        send(http, slug, "open")
        deadline = time.monotonic() + 10
        while http.get(f"/machines/door/i/{slug}").json()["state"] != "closed":
            assert time.monotonic() < deadline, "the delayed transition never fired"
            time.sleep(0.05)
        assert history(http, "door", slug)[0]["event"] == {"type": "xstate.after(300)#door.open"}


def test_console_goes_to_the_logs_and_a_throwing_action_fails_the_event(
    xserver: ServerThread,
) -> None:
    slug = unique("door-logs")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
        send(http, slug, "open")
        send(http, slug, "close")
        before = history(http, "door", slug)
        failed = send(http, slug, "explode")
        assert failed.status_code == 500 and failed.json()["code"] == "machine-error"
        assert "the hinge gave way" in failed.json()["error"]
        assert history(http, "door", slug) == before  # nothing stored
        logs = http.get(
            "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": "door", "instance": slug}
        ).json()["logs"]
    lines = [(entry["outputType"], entry["log"]) for entry in logs]
    assert ("stdout", "opened 1 times") in lines
    assert ("stderr", "a draught") in lines
    assert any(kind == "stderr" and "the hinge gave way" in text for kind, text in lines)


def test_allow_write_and_allow_read_are_asked(xserver: ServerThread) -> None:
    slug = unique("door-auth")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
    with client(xserver, sub="intruder") as http:
        refused = send(http, slug, "open")
        assert refused.status_code == 403
        assert refused.json()["code"] == "rejected-by-machine-authorizer"
    with client(xserver, sub="stranger") as http:
        assert http.get(f"/machines/door/i/{slug}").status_code == 403


def test_a_module_that_does_not_load_is_named_and_the_others_load(
    xserver: ServerThread,
) -> None:
    with client(xserver) as http:
        slugs = [m["slug"] for m in http.get("/machines").json()["machines"]]
    assert slugs == ["door"]


def test_a_pending_delayed_event_fires_after_a_restart(modules: Path, tmp_path: Path) -> None:
    with start_server(tmp_path, machines_dir=modules, demo=False) as first:
        with client(first, sub="owner") as http:
            http.post("/machines/door", json={"slug": "restarted"})
            send(http, "restarted", "open")
        key = first.key
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, key=key) as second,
        client(second, sub="owner") as http,
    ):
        deadline = time.monotonic() + 10
        while http.get("/machines/door/i/restarted").json()["state"] != "closed":
            assert time.monotonic() < deadline, "the timer did not survive the restart"
            time.sleep(0.05)


def test_python_and_xstate_machines_run_side_by_side(modules: Path, tmp_path: Path) -> None:
    with start_server(tmp_path, machines_dir=modules) as both, client(both, sub="owner") as http:
        http.post("/machines/door", json={"slug": "side"})
        assert send(http, "side", "open").json()["state"] == "open"
        answer = http.post("/machines/counter/i/small/events", json={"event": "increment"})
        assert answer.status_code == 200 and answer.json()["state"] == "counting"

"""`smb-tui replay`: histories recorded on a local server over HTTP, replayed against
modules through the command, as a project's CI would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smb_tui import cli
from smb_tui.local.auth import sign_key_token
from smb_tui.local.clock import ManualClock
from smb_tui.local.server import ServerThread
from tests.conftest import client, start_server, until

# A switch: `flip` toggles it, `kick` breaks it when off. v2 changes one transition: a
# kick while off leaves it off.
SWITCH = """import {{ createMachine, assign }} from "npm:xstate";
const machine = createMachine({{
  id: "switch", predictableActionArguments: true, initial: "off",
  context: {{ flips: 0 }},
  states: {{
    off: {{ on: {{ flip: {{ target: "on", actions: "count" }}, kick: "{kicked}" }} }},
    on: {{ on: {{ flip: {{ target: "off", actions: "count" }} }} }},
    broken: {{ on: {{ mend: "off" }} }},
  }},
}}, {{ actions: {{ count: assign({{ flips: (c) => c.flips + 1 }}) }} }});
export {{ machine as default }};
"""
# An invoked service (its result a coin toss) and a delayed transition: a replay runs
# neither, and takes their outcomes from the history.
ERRAND = """import { createMachine, assign } from "npm:xstate";
const machine = createMachine({
  id: "errand", predictableActionArguments: true, initial: "idle",
  context: { tossed: null },
  states: {
    idle: { on: { go: "working" } },
    working: {
      invoke: {
        src: () => Promise.resolve(Math.random() < 0.5 ? "heads" : "tails"),
        onDone: { target: "resting", actions: assign({ tossed: (_, e) => e.data }) },
      },
    },
    resting: { after: { 1000: "idle" }, on: { "tell": { actions: "noop" } } },
  },
}, { actions: { noop: () => {} } });
export { machine as default };
"""


def module(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.js"
    path.write_text(source)
    return path


def run_cli(server: ServerThread, *argv: str) -> int:
    token = sign_key_token(server.key, {"sub": "owner"})
    return cli.main(["--api-url", server.base_url, "--token", token, "--no-cache", *argv])


@pytest.fixture
def switch_history(tmp_path: Path) -> tuple[ServerThread, Path, Path]:
    """A switch instance on a local server running v1, its events sent over HTTP; the v1
    and v2 bundles."""
    v1 = module(tmp_path / "machines", "switch", SWITCH.format(kicked="broken"))
    v2 = module(tmp_path / "v2", "switch", SWITCH.format(kicked="off"))
    server = start_server(tmp_path, machines_dir=tmp_path / "machines", demo=False)
    with client(server, sub="owner") as http:
        http.post("/machines/switch", json={"slug": "s1"})
        for event in ["flip", "flip", "kick", "flip", "mend", "flip"]:
            assert http.post("/machines/switch/i/s1/events", json={"event": event}).is_success
    return server, v1, v2


def test_a_history_replayed_on_its_own_code_agrees(
    switch_history: tuple[ServerThread, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, v1, _ = switch_history
    with server:
        code = run_cli(server, "replay", "switch", "s1", "--bundle", str(v1))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "replayed 7 transitions: every state agrees" in out


def test_a_changed_transition_diverges_at_its_event(
    switch_history: tuple[ServerThread, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _, v2 = switch_history
    with server:
        code = run_cli(server, "replay", "switch", "s1", "--bundle", str(v2))
    out = capsys.readouterr().out
    assert code == 1
    # Row 3 is the kick: recorded "broken", replayed "off". The flip after it differs too
    # (v1 ignored it while broken), and the mend is not taken by v2 (it is off).
    lines = out.splitlines()
    assert lines[0].startswith("#3 ") and "kick: a different state" in lines[0]
    assert lines[1:3] == ['  recorded: "broken"', '  replayed: "off"']
    assert [line.split()[0] for line in lines if line.startswith("#")] == ["#3", "#4", "#5", "#6"]
    assert lines[-1] == "replayed 7 transitions: 4 diverge"


def test_an_export_file_replays_as_the_instance_does(
    switch_history: tuple[ServerThread, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _, v2 = switch_history
    exported = tmp_path / "s1.jsonl"
    with server:
        assert run_cli(server, "export", "history", "switch", "s1", "-o", str(exported)) == 0
        capsys.readouterr()
        through_client = run_cli(server, "replay", "switch", "s1", "--bundle", str(v2))
        said_by_client = capsys.readouterr().out
    from_file = cli.main(["replay", "--history", str(exported), "--bundle", str(v2)])
    assert (from_file, capsys.readouterr().out) == (through_client, said_by_client)


def test_a_version_on_the_local_server_replays_as_its_bundle_does(
    switch_history: tuple[ServerThread, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _, _ = switch_history
    exported = tmp_path / "s1.jsonl"
    with server:
        code = run_cli(server, "replay", "switch", "s1", "--version", "current", "--json")
        report = json.loads(capsys.readouterr().out)
        assert (code, report["agrees"], report["rows"]) == (0, True, 7)
        assert run_cli(server, "export", "history", "switch", "s1", "-o", str(exported)) == 0
        capsys.readouterr()
        argv = ["replay", "switch", "--history", str(exported), "--version", "current"]
        assert run_cli(server, *argv) == 0
        assert "every state agrees" in capsys.readouterr().out


def test_a_python_machine_s_version_is_not_replayed_and_says_so(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(server, "replay", "checkout", "cart-bob", "--version", "current") == 2
    assert "replay runs XState modules" in capsys.readouterr().err


def test_a_diverging_replay_as_json_names_each_row(
    switch_history: tuple[ServerThread, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _, v2 = switch_history
    with server:
        code = run_cli(server, "replay", "switch", "s1", "--bundle", str(v2), "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["agrees"] is False
    first = report["divergences"][0]
    assert (first["number"], first["recorded"], first["replayed"]) == (3, "broken", "off")
    assert first["event"] == {"type": "kick"}


def test_services_and_timers_are_not_run_but_taken_from_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = module(tmp_path / "machines", "errand", ERRAND)
    clock = ManualClock(1_780_000_000)
    with (
        start_server(
            tmp_path, machines_dir=tmp_path / "machines", demo=False, clock=clock
        ) as server,
        client(server, sub="owner") as http,
    ):
        http.post("/machines/errand", json={"slug": "e1"})
        assert http.post("/machines/errand/i/e1/events", json={"event": "go"}).is_success
        clock.advance(2)  # the delayed transition back to idle
        until(lambda: http.get("/machines/errand/i/e1").json()["state"] == "idle", "the timer")
        rows = http.get("/machines/errand/i/e1/events").json()["transitions"]
        assert [row["event"]["type"] for row in reversed(rows)] == [
            "xstate.init",
            "go",
            "done.invoke.errand.working:invocation[0]",
            "xstate.after(1000)#errand.resting",
        ]
        code = run_cli(server, "replay", "errand", "e1", "--bundle", str(bundle))
    out = capsys.readouterr().out
    assert code == 0, out  # a service that ran would add a step the history has not
    assert "replayed 4 transitions: every state agrees" in out


# A service whose answer decides the next state: it answers "heads" today; the history
# below was recorded when it answered "tails".
ORACLE = """import { createMachine } from "npm:xstate";
const machine = createMachine({
  id: "oracle", predictableActionArguments: true, initial: "idle",
  states: {
    idle: { on: { ask: "asking" } },
    asking: {
      invoke: {
        src: () => Promise.resolve("heads"),
        onDone: [{ target: "lucky", cond: (_, e) => e.data === "heads" }, { target: "idle" }],
      },
    },
    lucky: {},
  },
});
export { machine as default };
"""


def test_a_service_s_recorded_answer_is_replayed_not_asked_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = module(tmp_path, "oracle", ORACLE)
    done = "done.invoke.oracle.asking:invocation[0]"
    rows = [
        ({"type": "xstate.init"}, "idle"),
        ({"type": "ask"}, "asking"),
        ({"type": done, "data": "tails"}, "idle"),
        ({"type": "ask"}, "asking"),
    ]
    history = tmp_path / "oracle.jsonl"
    history.write_text(
        "".join(
            json.dumps({"createdAt": f"2026-01-01T00:00:0{n}.000Z", "event": e, "state": s}) + "\n"
            for n, (e, s) in enumerate(reversed(rows))  # newest first, as export writes
        )
    )
    code = cli.main(["replay", "--history", str(history), "--bundle", str(bundle)])
    out = capsys.readouterr().out
    assert code == 0, out  # asking the service again would have answered "heads": lucky
    assert "replayed 4 transitions: every state agrees" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["replay", "--bundle", "x.js"], "either MACHINE INSTANCE or --history"),
        (["replay", "m", "--bundle", "x.js"], "either MACHINE INSTANCE or --history"),
        (["replay", "--history", "h.jsonl", "--bundle", "nowhere.js"], "no bundle at"),
        (
            ["replay", "--history", "h.jsonl", "--bundle", "ok.js", "--context", "[1]"],
            "not a JSON object",
        ),
        (["replay", "--history", "bad.jsonl", "--bundle", "ok.js"], "line 1 is not a history row"),
        (["replay", "--history", "bytes.jsonl", "--bundle", "ok.js"], "is not UTF-8 text"),
        (["replay", "--history", "deep.jsonl", "--bundle", "ok.js"], "line 1 is not a history"),
        (
            ["replay", "--history", "late.jsonl", "--bundle", "ok.js"],
            "does not start with the instance's creation",
        ),
        (["replay", "--history", "h.jsonl", "--bundle", "broken.js"], "the bundle does not load"),
    ],
)
def test_bad_input_is_an_error_that_says_why(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    module(tmp_path, "ok", SWITCH.format(kicked="broken"))
    module(tmp_path, "broken", "const x = 1 +;\nexport { x as default };")
    row = {
        "createdAt": "2026-01-01T00:00:00.000Z",
        "event": {"type": "xstate.init"},
        "state": "off",
    }
    (tmp_path / "h.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    (tmp_path / "bytes.jsonl").write_bytes(json.dumps(row).encode() + b"\n\xff\xfe{}\n")
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "\n")  # past what json.loads nests
    (tmp_path / "late.jsonl").write_text(json.dumps({**row, "event": {"type": "flip"}}) + "\n")
    assert cli.main(argv) == 2
    assert says in capsys.readouterr().err

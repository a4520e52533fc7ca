"""`smb-tui export`: the whole history or logs, through the CLI, against the local server."""

from __future__ import annotations

import csv
import gc
import io
import json
from pathlib import Path

import httpx
import pytest

from smb_tui import export
from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.api.models import Transition
from smb_tui.cli import main
from smb_tui.core.history_cache import HistoryCache, default_cache_path
from smb_tui.local.server import ServerThread
from tests.conftest import client, history, unique


def run(server: ServerThread, *command: str) -> int:
    return main([*flags(server), "export", *command])


def flags(server: ServerThread) -> list[str]:
    # "=": a generated secret may start with "-", which argparse would take for an option.
    return [
        f"--api-url={server.base_url}",
        f"--key-id={server.key.key_id}",
        f"--secret={server.key.secret}",
    ]


def test_history_to_a_file_is_every_transition_newest_first(
    server: ServerThread, http: httpx.Client, tmp_path: Path
) -> None:
    target = tmp_path / "busy.jsonl"
    assert run(server, "history", "counter", "busy", "-o", str(target)) == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines == history(http, "counter", "busy")
    assert target.stat().st_mode & 0o777 == 0o600  # events can hold private data


def test_history_oldest_first_as_csv(
    server: ServerThread, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = unique("export")
    http.post("/machines/counter", json={"slug": slug})
    for by in (1, 2, 3):
        http.post(f"/machines/counter/i/{slug}/events", json={"event": {"type": "add", "by": by}})
    assert run(server, "history", "counter", slug, "--format", "csv", "--oldest-first") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["eventType"] for row in rows] == ["xstate.init", "add", "add", "add"]
    assert json.loads(rows[2]["event"]) == {"type": "add", "by": 2}
    assert rows[0]["state"] == "counting"


@pytest.mark.parametrize(
    ("name", "flag", "first_line"),
    [
        ("small.csv", [], "createdAt,eventType,event,state"),  # the name asks for CSV
        ("small.CSV", [], "createdAt,eventType,event,state"),
        ("small.jsonl", [], '{"createdAt"'),
        ("small.txt", [], '{"createdAt"'),
        ("small.csv", ["--format", "jsonl"], '{"createdAt"'),  # the flag wins
    ],
)
def test_the_file_name_chooses_the_format_unless_format_is_given(
    server: ServerThread, tmp_path: Path, name: str, flag: list[str], first_line: str
) -> None:
    target = tmp_path / name
    assert run(server, "history", "counter", "small", "-o", str(target), *flag) == 0
    assert target.read_text().splitlines()[0].startswith(first_line)


def test_hostile_text_cannot_drive_a_terminal_or_a_spreadsheet(
    server: ServerThread, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = unique("hostile-export")
    http.post("/machines/counter", json={"slug": slug})
    hostile = '=HYPERLINK("http://evil")\x1b]52;c;cm0gLXJmIH4=\x07\u202e\x9b'
    http.post(f"/machines/counter/i/{slug}/events", json={"event": {"type": hostile}})

    assert run(server, "history", "counter", slug, "--format", "csv") == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["eventType"].startswith("'=HYPERLINK")  # no formula
    assert "\\u001b]52" in rows[0]["eventType"]
    assert run(server, "history", "counter", slug) == 0
    jsonl = capsys.readouterr().out
    assert json.loads(jsonl.splitlines()[0])["event"]["type"] == hostile  # exact data
    for text in (out, jsonl):
        assert not any(char in text for char in "\x1b\x07\u202e\x9b")


def test_a_failed_export_leaves_the_file_as_it_was(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "keep.jsonl"
    target.write_text("yesterday's export\n")
    assert run(server, "history", "counter", "no-such-instance", "-o", str(target)) == 1
    error = capsys.readouterr().err
    assert "no-such-instance" in error and "left as it was" in error
    assert target.read_text() == "yesterday's export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["keep.jsonl"]


def test_logs_follow_every_page_with_no_repeat(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = unique("export-logs")
    with client(server) as http:
        http.post("/machines/scratch", json={"slug": slug})
        for key in range(250):  # each prints one line: three pages of logs
            http.post(
                f"/machines/scratch/i/{slug}/events",
                json={"event": {"type": "put", "key": key, "value": 1}},
            )
    assert run(server, "logs", "--of-machine", "scratch", "--of-instance", slug) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["log"] for entry in entries] == [f"stored {key}" for key in range(250)]
    assert {entry["outputType"] for entry in entries} == {"stdout"}


def test_history_comes_from_the_dashboards_cache_when_it_holds_all_of_it(
    server: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    slug = unique("cached-export")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug})
        for _ in range(8):  # more than the run of newest rows the cache is found by
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
        fetched = history(http, "counter", slug)
    cached = HistoryCache(default_cache_path()).history(server.base_url, None, "counter", slug)
    marked = [Transition.model_validate(row) for row in fetched]
    marked[-1] = marked[-1].model_copy(update={"event": {"type": "xstate.init", "mark": 1}})
    cached.add_older(marked, None)  # the whole history, the oldest row marked
    with client(server) as http:
        http.post(f"/machines/counter/i/{slug}/events", json={"event": "decrement"})
        fresh = history(http, "counter", slug)

    assert run(server, "history", "counter", slug) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == [
        {"type": "decrement"},  # the page newer than the cache, fetched
        *[{"type": "increment"}] * 8,
        {"type": "xstate.init", "mark": 1},  # from the cache: it was used
    ]
    flags = ["--api-url", server.base_url, "--key-id", server.key.key_id]
    assert (
        main(
            [
                *flags,
                f"--secret={server.key.secret}",  # a secret may begin with "-"
                "--no-cache",
                "export",
                "history",
                "counter",
                slug,
            ]
        )
        == 0
    )
    uncached = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert uncached == fresh


def test_logs_from_a_relative_time_and_the_version_flag(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = unique("export-recent")
    with client(server) as http:
        http.post("/machines/scratch", json={"slug": slug})
        http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "put", "key": "k", "value": 1}},
        )
    common = ["logs", "--of-machine", "scratch", "--of-instance", slug]
    for since in (["--from", "1h ago"], ["--from", "-1h"], ["--from=-90m", "--to", "now"]):
        assert run(server, *common, *since) == 0, since
        lines = capsys.readouterr().out.splitlines()
        assert [json.loads(line)["log"] for line in lines] == ["stored k"], since
    assert run(server, *common, "--from", "1h later") == 2
    assert "is not a time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("smb-tui ")


def test_connection_flags_work_after_the_command_and_win_there(
    server: ServerThread, http: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = history(http, "counter", "busy")
    after = ["export", "history", "counter", "busy", *flags(server)]
    assert main(after) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == expected
    # Given on both sides, the one after the command is the one used.
    wrong = ["--api-url=http://127.0.0.1:9", "--key-id=nope", "--secret=nope"]
    assert main([*wrong, *after]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(expected)
    # Given before only, kept (a flag not given after the command changes nothing).
    assert main([*flags(server), "export", "history", "counter", "busy", "--oldest-first"]) == 0
    oldest = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert oldest == expected[::-1]


def test_the_secret_can_come_from_a_file_not_the_command_line(
    server: ServerThread, http: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(server.key.secret + "\n")
    command = ["export", "history", "counter", "busy", f"--api-url={server.base_url}"]
    command += [f"--key-id={server.key.key_id}", "--secret-file", str(secret)]
    assert main(command) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(history(http, "counter", "busy"))
    for bad, said in (
        (tmp_path / "missing", "cannot read --secret-file"),
        (tmp_path / "empty", "is empty"),
    ):
        if bad.name == "empty":
            bad.write_text("\n")
        with pytest.raises(SystemExit) as done:
            main([*command[:-1], str(bad)])
        assert done.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*command, f"--secret={server.key.secret}"])
    assert "not both" in capsys.readouterr().err


def test_help_says_what_each_local_flag_does_and_warns_of_secrets_in_ps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["local", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "A server speaking State Backed's HTTP API" in text
    for said in ("default 127.0.0.1", "default 8787", "default 100)", "default 10)"):
        assert said in text, said
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "shows in `ps`" in text and "--secret-file" in text
    assert "named by the connection flags" in text


def test_progress_is_drawn_on_a_terminal_only(server: ServerThread, tmp_path: Path) -> None:
    """On a terminal, rich's progress (count, rate, time) while it runs, then one line
    that stays; into a pipe, only that line, with no escape sequence."""
    import os
    import pty
    import subprocess
    import sys

    target = tmp_path / "busy.jsonl"
    command = [sys.executable, "-m", "smb_tui", "export", "history", "counter", "busy"]
    command += ["-o", str(target), *flags(server)]
    root = Path(__file__).resolve().parents[1]
    leader, follower = pty.openpty()
    done = subprocess.run(command, cwd=root, stderr=follower, timeout=120, check=False)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: all read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert done.returncode == 0
    text = drawn.decode()
    assert "\x1b[" in text  # drawn, and erased
    assert "0:00:0" in text  # the time it has taken
    held = len(target.read_text().splitlines())
    assert text.rstrip().endswith(f"exported {held:,} transitions to {target}")
    piped = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert piped.returncode == 0
    held = len(target.read_text().splitlines())
    assert piped.stderr == f"  exported {held:,} transitions to {target}\n"


def test_debug_writes_each_request_and_never_a_secret(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "requests.log"
    assert main(["--debug", str(log), "export", "history", "counter", "busy", *flags(server)]) == 0
    capsys.readouterr()
    assert main(["logs", "--of-instance", "busy", *flags(server), "--debug", str(log)]) == 0
    assert log.stat().st_mode & 0o777 == 0o600
    text = log.read_text()
    lines = text.splitlines()
    pages = [line for line in lines if "GET /machines/counter/i/busy/events" in line]
    assert pages and all(" 200 " in line and " ms " in line for line in pages)
    # The query as sent, escaped (the time's colons).
    assert any("GET /logs?" in line and "instance=busy" in line and "%3A" in line for line in lines)
    assert server.key.secret not in text and "Bearer" not in text and "eyJ" not in text


@pytest.mark.parametrize("cached", [False, True], ids=["server", "cache"])
async def test_oldest_first_holds_a_page_not_the_history_and_keeps_every_value(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    """Oldest first, the transitions wait in a temporary file, not in memory (an end
    user's events can be 400 kB each; the whole history was held as a list), and come
    back as the server sent them, values an end user chose included. From the cache,
    a page of it at a time."""
    monkeypatch.setattr(export, "PAGE_ROWS", 20)  # the cache read 20 rows at a time
    slug = unique("oldest-first")
    odd: list[object] = [2**80, 1e300, "é\u202e\x1b[31m漢字", {"deep": [[[{"a": None}]]]}, True]
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug}).raise_for_status()
        for n in range(150):
            event = {"type": "increment", "n": n, "odd": odd[n % len(odd)]}
            http.post(f"/machines/counter/i/{slug}/events", json={"event": event})
        fresh = history(http, "counter", slug)
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "export"})
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history(server.base_url, None, "counter", slug)
    if cached:
        held.add_older([Transition.model_validate(row) for row in fresh], None)
    alive: list[int] = []
    async with StateBackedClient(credentials, server.base_url) as api:
        out: list[dict[str, object]] = []
        items = export.history(api, "counter", slug, True, held if cached else None)
        async for transition in items:
            if not out:
                gc.collect()
                alive.append(sum(1 for o in gc.get_objects() if isinstance(o, Transition)))
            out.append(transition.model_dump(by_alias=True))
    cache.close()
    assert out == fresh[::-1]
    assert alive[0] <= 60, alive  # of 151: a page (of 50 from the server) and the test's

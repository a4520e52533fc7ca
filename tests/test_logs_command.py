"""`smb-tui logs [--follow]`: entries printed for a person (made safe), or as JSON; a follow
prints what comes later, says when the server is away, and ends on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smb_tui.cli import main
from smb_tui.local.server import ServerThread
from tests.conftest import client, free_port, unique

ROOT = Path(__file__).resolve().parents[1]


def flags(server: ServerThread) -> list[str]:
    return [
        f"--api-url={server.base_url}",
        f"--key-id={server.key.key_id}",
        f"--secret={server.key.secret}",
    ]


def put(server: ServerThread, slug: str, key: str) -> None:
    with client(server) as http:
        answer = http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "put", "key": key, "value": 1}},
        )
        assert answer.status_code == 200, answer.text


def new_instance(server: ServerThread) -> str:
    slug = unique("logs")
    with client(server) as http:
        assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
    return slug


def test_entries_are_printed_one_a_line_and_made_safe(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = new_instance(server)
    put(server, slug, "plain")
    put(server, slug, "\x1b]0;owned\x07\x1b[2Jred\nsecond line\u202e")
    command = ["logs", "--of-machine", "scratch", "--of-instance", slug, *flags(server)]
    assert main(command) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].endswith(f"scratch/{slug}  stored plain")
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\u001b]0;owned\\u0007\\u001b[2Jred" in lines[1]
    assert lines[2] == "    second line\\u202e"  # the next line of the same entry
    assert main([*command, "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["log"] for entry in entries] == [
        "stored plain",
        "stored \x1b]0;owned\x07\x1b[2Jred\nsecond line\u202e",
    ]


def test_a_bad_time_a_bad_name_or_no_server_is_said(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "--from", "tomorrow-ish", *flags(server)]) == 2
    assert "is not a time" in capsys.readouterr().err
    away = [f"--api-url=http://127.0.0.1:{free_port()}", "--key-id=k", "--secret=" + "s" * 40]
    assert main(["logs", *away]) == 1
    assert "could not reach" in capsys.readouterr().err
    # A name no machine can have would match nothing, silently: said instead.
    assert main(["logs", "--of-machine", "bad slug", *flags(server)]) == 1
    assert "machine 'bad slug' is not a valid name" in capsys.readouterr().err
    assert main(["logs", "--of-machine", "scratch", "--of-instance", "a/b", *flags(server)]) == 1
    assert "instance 'a/b' is not a valid name" in capsys.readouterr().err


def logs_process(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "smb_tui", "logs", "--follow", "--every", "0.1", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_line(stream: object, deadline: float = 20) -> str:
    """The next line, or fail after `deadline` seconds (a follow never ends by itself)."""
    import selectors

    chooser = selectors.DefaultSelector()
    chooser.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if chooser.select(timeout=0.1):
            return stream.readline()  # type: ignore[attr-defined,no-any-return]
    raise AssertionError("no line in time")


def test_follow_prints_what_comes_later_and_ends_on_ctrl_c(server: ServerThread) -> None:
    slug = new_instance(server)
    put(server, slug, "before")
    follower = logs_process("--of-instance", slug, "--from", "1h ago", *flags(server))
    try:
        assert read_line(follower.stdout).rstrip().endswith("stored before")
        put(server, slug, "later")
        assert read_line(follower.stdout).rstrip().endswith("stored later")
        put(server, slug, "and later")
        assert read_line(follower.stdout).rstrip().endswith("stored and later")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(20) == 0
        rest = follower.stdout.read()  # type: ignore[union-attr]
        assert rest == ""  # nothing twice
    finally:
        follower.kill()
        follower.wait()


def test_follow_says_once_that_the_server_is_away_and_keeps_trying() -> None:
    away = [f"--api-url=http://127.0.0.1:{free_port()}", "--key-id=k", "--secret=" + "s" * 40]
    follower = logs_process(*away)
    try:
        first = read_line(follower.stderr)
        assert "could not reach" in first and "still trying" in first
        time.sleep(1)  # several tries meanwhile
        assert follower.poll() is None  # still following
        follower.send_signal(signal.SIGINT)
        assert follower.wait(20) == 0
        said = follower.stderr.read()  # type: ignore[union-attr]
        assert "could not reach" not in said  # once, not once a try
    finally:
        follower.kill()
        follower.wait()

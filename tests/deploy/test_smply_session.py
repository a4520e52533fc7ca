"""`smb-tui smply-session`: a smply session for the local server, written 0600, read by
the supabase-js smply uses without a call to Supabase, and accepted by the server."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from smb_tui.cli import main as cli
from smb_tui.local.server import ServerThread
from tests.conftest import npm_folder

SUPABASE = ["@supabase/supabase-js@2.26.0"]  # the version smply 0.1.21 pins
NODE_CACHE = Path(__file__).parent.parent.parent / ".build" / "supabase"


def write_session(server: ServerThread, home: Path, *extra: str) -> tuple[int, str]:
    secret = home / "secret"
    secret.write_text(server.key.secret)
    code = cli(
        ["smply-session", "--key-id", server.key.key_id, "--secret-file", str(secret), *extra]
    )
    return code, (home / ".smply" / "credentials").read_text() if code == 0 else ""


def test_the_session_is_private_and_the_server_takes_its_token(
    deploy_server: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    code, written = write_session(deploy_server, tmp_path)
    assert code == 0
    said = capsys.readouterr()
    credentials = tmp_path / ".smply" / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    token = json.loads(written)["access_token"]
    assert token not in said.err + said.out and deploy_server.key.secret not in said.err
    headers = {"authorization": f"Bearer {token}"}
    made = httpx.post(
        f"{deploy_server.base_url}/machines", json={"slug": "smply-made"}, headers=headers
    )
    assert made.status_code == 201, made.text


def test_a_real_login_is_not_replaced_without_force(
    deploy_server: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    credentials = tmp_path / ".smply" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text('{"access_token": "a real one"}')
    assert write_session(deploy_server, tmp_path)[0] == 1
    assert "another session" in capsys.readouterr().err
    assert credentials.read_text() == '{"access_token": "a real one"}'
    assert write_session(deploy_server, tmp_path)[0] == 1
    code, written = write_session(deploy_server, tmp_path, "--force")
    assert code == 0 and "a real one" not in written
    assert write_session(deploy_server, tmp_path)[0] == 0  # ours: replaced freely


def supabase() -> Path:
    return npm_folder(NODE_CACHE, SUPABASE, "@supabase/gotrue-js", "supabase-js")


def test_smplys_supabase_client_reads_the_session_offline(
    deploy_server: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = supabase()
    script = folder / "smply_session.mjs"
    shutil.copyfile(Path(__file__).parent / "smply_session.mjs", script)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, written = write_session(deploy_server, tmp_path)
    assert code == 0
    ran = subprocess.run(
        ["node", str(script)],
        # No proxy and no route: a call to Supabase would fail, and the test with it.
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == json.loads(written)["access_token"]

"""`smb-tui serve` driven by a real browser (Debian's Chromium, headless, over the DevTools
protocol): the page loads with the token and its dashboard talks to the server, it is
refused without, and a key pressed in the page reaches the app. Skipped (and counted)
where Chromium is not installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from smb_tui.local.server import ServerThread
from tests.conftest import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt install chromium)")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ServerThread]:
    with start_server(tmp_path / "server") as server:
        yield server


def serve(server: ServerThread, tmp_path: Path, *more: str) -> tuple[subprocess.Popen[str], str]:
    """`smb-tui serve` on a free port against `server`: the process and the URL it printed."""
    secret = tmp_path / "secret"
    secret.write_text(server.key.secret)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "smb_tui", "serve", "--port", str(free_port())),
            *(f"--api-url={server.base_url}", f"--key-id={server.key.key_id}"),
            *("--secret-file", str(secret), "--auth-context", '{"sub": "demo-user"}'),
            *more,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"open (\S+)", line)
    assert found, line
    url = found.group(1)
    base = url.split("/?")[0]
    for _ in range(100):  # until it listens
        try:
            urllib.request.urlopen(base, timeout=1)
        except urllib.error.HTTPError:
            break  # 403: it answers
        except OSError:
            time.sleep(0.1)
    return process, url


class Page:
    """One headless Chromium tab, driven over the DevTools protocol."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        assert CHROMIUM is not None
        self.browser = subprocess.Popen(
            [
                *(CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu"),
                *("--remote-debugging-port=0", f"--user-data-dir={tmp_path / 'profile'}"),
                *("--window-size=1280,900", url),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.browser.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            found = re.search(
                r"DevTools listening on ws://[^:]+:(\d+)/", self.browser.stderr.readline()
            )
            port = int(found.group(1)) if found else None
        assert port is not None, "Chromium never said where DevTools listens"
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
        page = next(t for t in targets if t["type"] == "page")
        self.stack = ExitStack()
        self.socket: ClientConnection = self.stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=2**24)
        )
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def close(self) -> None:
        self.stack.close()
        self.browser.kill()
        self.browser.wait()


def until(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_browser_with_the_token_drives_the_dashboard(
    backend: ServerThread, tmp_path: Path
) -> None:
    log = tmp_path / "requests.log"
    process, url = serve(backend, tmp_path, "--machine", "scratch", "--debug", str(log))
    page = Page(tmp_path, url)
    try:
        # The page came (its terminal is drawn), and its dashboard reads the server.
        until(lambda: page.evaluate("!!document.querySelector('.xterm')"), "the terminal")
        until(lambda: log.exists() and "/machines/scratch/i" in log.read_text(), "its reads")
        before = log.read_text().count("GET /machines/scratch/i")
        # A key pressed in the page reaches the app: r reads the instances again.
        page.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        page.call("Input.insertText", text="r")
        until(lambda: log.read_text().count("GET /machines/scratch/i") > before, "r to read again")
    finally:
        page.close()
        process.terminate()
        process.wait(30)


def test_without_the_token_everything_is_refused(backend: ServerThread, tmp_path: Path) -> None:
    process, url = serve(backend, tmp_path)
    base = url.split("/?")[0]
    page = Page(tmp_path, base + "/")
    try:
        text = "document.body ? document.body.innerText : ''"
        until(lambda: "token" in (page.evaluate(text) or ""), "the refusal")
        assert "open the URL with the token" in page.evaluate(text)
        assert not page.evaluate("!!document.querySelector('.xterm')")
        for path in ("/", "/static/js/textual.js", "/ws", f"/?token={'x' * 32}"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=5)
            assert refused.value.code == 403, path
    finally:
        page.close()
        process.terminate()
        process.wait(30)


def test_another_host_is_warned_of(backend: ServerThread, tmp_path: Path) -> None:
    process, _ = serve(backend, tmp_path, "--host", "0.0.0.0")  # the point
    try:
        assert process.poll() is None
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "warning: listening on 0.0.0.0" in err

"""Driving the real app against a real local server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from smb_tui.api.auth import KeyCredentials
from smb_tui.config import Connection
from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from tests.conftest import client, unique


def connection(server: ServerThread, sub: str = "demo-user", profile: str = "test") -> Connection:
    auth = KeyCredentials(server.key.key_id, server.key.secret, {"sub": sub})
    return Connection(server.base_url, auth, None, profile, can_act_as=True)


def make_app(
    server: ServerThread,
    machine: str | None = None,
    instance: str | None = None,
    cache_path: Path | None = None,
) -> SmbTui:
    return SmbTui(connection(server), machine=machine, instance=instance, cache_path=cache_path)


def app_on_new_instance(server: ServerThread, machine: str, prefix: str) -> tuple[SmbTui, str]:
    """A fresh instance of `machine` (made over HTTP) and the app opened on it."""
    slug = unique(prefix)
    with client(server) as http:
        assert http.post(f"/machines/{machine}", json={"slug": slug}).status_code == 200
    return make_app(server, machine, slug), slug


async def wait_for(
    pilot: Pilot[None],
    condition: Callable[[], object],
    timeout: float = 8,
    what: str | Callable[[], str] = "the condition",
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await pilot.pause(0.05)
        waited += 0.05


def static_text(widget: Static) -> str:
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


def composer_status(app: Any) -> str:
    return static_text(app.screen.query_one("#composer-status", Static))


def held_until_set(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str
) -> threading.Event:
    """`module.name`, a function, made to wait (5 s at most) for the event returned
    before it runs: work that must not hold the UI thread shows whether it does (keys
    taken while it waits), with no timing deciding. It runs as ever once the event is set."""
    go = threading.Event()
    real = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        go.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return go

"""Server text never drives the terminal: one hostile string through every field shown.

A State Backed-shaped server on 127.0.0.1, written for this test, puts the same
hostile string into every name, type, key, value, state, tag, label and error message
it sends. The app must show it literally, keep every row within the terminal, and
write no escape or C1 byte that Textual's own rendering did not make.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from smb_tui.api.auth import StaticToken
from smb_tui.config import Connection
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.modals import TransitionDetail
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.tui.helpers import wait_for

# Clipboard write, title change, clear screen, a C1 CSI, a bidi override, a zero-width
# space, DEL, a lone surrogate's neighbour (U+2028) and markup.
HOSTILE = (
    "\x1b]52;c;aGk=\x07\x1b]0;pwn\x07\x1b[2J\x9b31m\u202eevil\u2066[b]bold[/b]\u200b\x7f\u2028Z"
)
SHOWN = r"\u001b]52;c;aGk=\u0007\u001b]0;pwn\u0007\u001b[2J\u009b31m\u202eevil\u2066[b]bold[/b]"
NOW = "2026-11-23T10:00:00.000Z"
VERSION = {"id": HOSTILE, "createdAt": NOW, "clientInfo": HOSTILE}
STATE = {
    "ts": 1,
    "state": {HOSTILE: HOSTILE},
    "publicContext": {HOSTILE: HOSTILE, "list": [HOSTILE]},
    "tags": [HOSTILE],
    "done": False,
}
ROUTES: dict[tuple[str, str], tuple[int, Any]] = {
    ("GET", "/machines"): (
        200,
        {
            "machines": [
                {"slug": "m1", "createdAt": NOW, "currentVersion": VERSION},
                {"slug": HOSTILE, "createdAt": NOW, "currentVersion": VERSION},
            ]
        },
    ),
    ("GET", "/machines/m1"): (200, {"machine": {"createdAt": NOW, "indexes": []}}),
    ("GET", "/machines/m1/i"): (
        200,
        {
            "instances": [
                {"slug": "i1", "createdAt": NOW, "status": "running"},
                {"slug": HOSTILE, "createdAt": NOW, "status": HOSTILE},
            ]
        },
    ),
    ("GET", "/machines/m1/i/i1"): (200, STATE),
    ("GET", "/machines/m1/i/i1/admin"): (
        200,
        {
            **STATE,
            "context": {HOSTILE: HOSTILE, "public": {HOSTILE: HOSTILE}},
            "status": "running",
            "machineVersion": VERSION,
            "desiredMachineVersion": VERSION,
            "createdAt": NOW,
        },
    ),
    ("GET", "/machines/m1/i/i1/events"): (
        200,
        {
            "transitions": [
                {
                    "createdAt": NOW,
                    "state": {HOSTILE: HOSTILE},
                    "event": {"type": HOSTILE, HOSTILE: HOSTILE},
                }
            ]
        },
    ),
    ("POST", "/machines/m1/i/i1/events"): (500, {"error": HOSTILE, "code": HOSTILE}),
}


class HostileServer:
    """Answers the routes above over real HTTP; 404 for anything else (realtime too)."""

    def __init__(self) -> None:
        self.base_url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                length = next(
                    (
                        int(h.split(":", 1)[1])
                        for h in head
                        if h.lower().startswith("content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                status, body = ROUTES.get((method, target.split("?")[0]), (404, {"error": HOSTILE}))
                payload = (body if isinstance(body, str) else json.dumps(body)).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.base_url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    yield server
    listening.close()


# What Textual itself writes: CSI sequences (colours, cursor moves) and OSC 8 links.
TEXTUAL_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b]8;[^\x1b\x07]*(\x1b\\|\x07)")
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def screen_is_safe(app: SmbTui) -> str:
    """The screen as text, after checking what it would write to the terminal."""
    update = app.screen._compositor.render_full_update()
    width = app.size.width
    lines = []
    for strips in update.strips:
        for strip in strips:
            assert strip.cell_length <= width, "a row is wider than the terminal"
            lines.append(strip.text)
    stream = update.render_segments(app.console)
    leftover = TEXTUAL_SEQUENCES.sub("", stream)
    assert not UNSAFE.search(leftover), repr(UNSAFE.search(leftover))
    return "\n".join(lines)


async def settle(pilot: Pilot[None], condition: Any, what: str) -> None:
    await wait_for(pilot, condition, what=what)
    await pilot.pause(0.2)


async def instance_with_full_context(pilot: Pilot[None], app: SmbTui, rows: int) -> None:
    """The instance shown with `rows` history rows, then its full context (admin view)."""
    screen: Any = app.screen
    history = screen.query_one(TransitionHistory)
    await settle(
        pilot,
        lambda: screen.snapshot.admin is not None and history.row_count == rows,
        "the instance",
    )
    await pilot.press("a")
    await pilot.pause(0.2)


async def test_one_hostile_string_through_every_field(hostile: HostileServer) -> None:
    connection = Connection(hostile.base_url, StaticToken("t"), None, "hostile", can_act_as=False)
    app = SmbTui(connection, machine="m1", instance="i1")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        await instance_with_full_context(pilot, app, rows=1)
        text = screen_is_safe(app)
        # Machine, instance and version names, state names and values, tags, context
        # keys and values, event types and payloads: each shown, escaped, as text.
        assert text.count(r"\u001b]52;c;aGk=") >= 8, text
        assert "[b]bold[/b]" in text
        screen.query_one("#event-type", Input).value = "poke"
        await pilot.press("4", "enter")
        await settle(
            pilot,
            lambda: "HTTP 500" in str(screen.query_one("#composer-status").render()),
            "the 500",
        )
        text = screen_is_safe(app)
        assert "HTTP 500" in text and r"\u009b31m" in text  # the error message, escaped
        await pilot.press("escape", "5", "enter")
        await settle(pilot, lambda: isinstance(app.screen, TransitionDetail), "the detail")
        text = screen_is_safe(app)
        assert r"\u001b]0;pwn" in text


def nested(depth: int) -> str:
    """JSON nested `depth` levels deep, as text (Python's encoder gives up far sooner)."""
    return '{"in":' * depth + '"bottom"' + "}" * depth


def with_deep(body: Any, depth: int) -> str:
    """`body` as JSON text, with each "DEEP" in it nested `depth` levels deep."""
    return json.dumps(body).replace('"DEEP"', nested(depth))


def deep_routes(depth: int) -> dict[tuple[str, str], tuple[int, Any]]:
    admin = ROUTES[("GET", "/machines/m1/i/i1/admin")][1]
    return {
        **ROUTES,
        ("GET", "/machines/m1/i/i1"): (
            200,
            with_deep({**STATE, "state": "on", "publicContext": {"deep": "DEEP"}}, depth),
        ),
        ("GET", "/machines/m1/i/i1/admin"): (
            200,
            with_deep(
                {
                    **admin,
                    "state": "on",
                    "publicContext": {"deep": "DEEP"},
                    "context": {"deep": "DEEP", "public": {"deep": "DEEP"}},
                },
                depth,
            ),
        ),
        ("GET", "/machines/m1/i/i1/events"): (
            200,
            with_deep(
                {
                    "transitions": [
                        {"createdAt": NOW, "state": "on", "event": {"type": "go", "p": "DEEP"}},
                        {"createdAt": NOW, "state": "plain", "event": {"type": "plain"}},
                    ]
                },
                depth,
            ),
        ),
    }


DEPTH = 900  # the parser reads about 920 levels at the depth the app calls it


async def test_values_nested_hundreds_deep_are_shown_without_a_crash(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An end user's event or context nested 900 levels deep (a few kB) is JSON the
    client reads; every pane shows it (encoding it again for the history's rows, the
    context and the detail) without a crash."""
    monkeypatch.setattr(sys.modules[__name__], "ROUTES", deep_routes(DEPTH))
    connection = Connection(hostile.base_url, StaticToken("t"), None, "deep", can_act_as=False)
    app = SmbTui(connection, machine="m1", instance="i1")
    async with app.run_test(size=(160, 50)) as pilot:
        await instance_with_full_context(pilot, app, rows=2)
        text = screen_is_safe(app)
        assert "plain" in text
        await pilot.press("5", "enter")
        await settle(pilot, lambda: isinstance(app.screen, TransitionDetail), "the detail")
        screen_is_safe(app)
        await pilot.press("escape", "down", "enter")
        await settle(pilot, lambda: isinstance(app.screen, TransitionDetail), "the detail")
        screen_is_safe(app)

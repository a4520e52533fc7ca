"""The app against a real HTTP server on 127.0.0.1 that answers what a broken or hostile
State Backed could: repeated slugs and version ids, a machine named like the app's own
rows, a time that is not a time, and a header that is not ASCII on every answer. The app
shows what it can, never crashes, and never takes an id from server text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from textual.widgets import OptionList, TextArea

from smb_tui.api.auth import AnonymousSession, StaticToken
from smb_tui.config import Connection
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.modals import TransitionDetail, VersionsScreen
from smb_tui.tui.widgets.event_composer import EventComposer
from smb_tui.tui.widgets.instance_list import InstanceList
from smb_tui.tui.widgets.machine_list import MachineList
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.raw_http import read_request
from tests.tui.helpers import wait_for

V1 = {"id": "mv_1", "createdAt": "2026-01-01T00:00:00Z", "clientInfo": "v1"}
STATE = {"ts": 5, "state": "on", "publicContext": {}, "tags": [], "done": False}
ROUTES: dict[str, object] = {
    "/machines/dup/i/a/events": {
        "transitions": [
            {"createdAt": "not a time", "event": {"type": "poke"}, "state": "on"},
            {"createdAt": "2026-01-01T00:00:00Z", "event": {"type": "xstate.init"}, "state": "on"},
        ]
    },
    "/machines/dup/i/a/admin": {**STATE, "status": "running", "machineVersion": V1},
    "/machines/dup/i/a": STATE,
    "/machines/dup/i": {
        "instances": [
            {"slug": "a", "createdAt": "2026-01-01T00:00:00Z"},
            {"slug": "a", "createdAt": "2026-01-01T00:00:00Z"},
            {"slug": "__load_more__", "createdAt": "2026-01-01T00:00:00Z"},
        ]
    },
    "/machines/dup/v": {"versions": [V1, V1, {**V1, "id": "__error__"}]},
    "/machines/dup": {"machine": {"createdAt": "2026-01-01T00:00:00Z", "currentVersion": V1}},
    "/machines": {
        "machines": [
            {"slug": "dup", "createdAt": "2026-01-01T00:00:00Z"},
            {"slug": "dup", "createdAt": "2026-01-01T00:00:00Z"},
            {"slug": "__load_more__", "createdAt": "2026-01-01T00:00:00Z"},
            {"slug": "__error__", "createdAt": "2026-01-01T00:00:00Z"},
        ]
    },
    "/logs": {"logs": [], "maxTimestamp": None},
}


@dataclass
class Hostile:
    """Answers by path, with `x-served-by: café` (as Latin-1 bytes)."""

    routes: dict[str, object]
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path = (await read_request(reader)).split(" ")[1].split("?")[0]
                self.requests.append(path)
                found = path in self.routes
                status, body = (200, self.routes[path]) if found else (404, {"error": "no"})
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(payload)}\r\n"
                    "x-served-by: café \x9b[2J\r\ncontent-type: application/json\r\n\r\n".encode(
                        "latin-1"
                    )
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(routes: dict[str, object]) -> AsyncIterator[Hostile]:
    server = Hostile(routes)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.base_url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listener.close()


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    async with serving(ROUTES) as server:
        yield server


def app_for(server: Hostile, tmp_path: Path, **where: str) -> SmbTui:
    connection = Connection(server.base_url, StaticToken("t"), None, "hostile", can_act_as=False)
    return SmbTui(connection, cache_path=tmp_path / "cache.sqlite3", **where)  # type: ignore[arg-type]


async def test_repeated_and_reserved_names_are_shown_once_and_chosen_by_position(
    hostile: Hostile, tmp_path: Path
) -> None:
    app = app_for(hostile, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) == 3, what="the machines")
        options = machines.options
        shown = [options.id_at(i) for i in range(options.option_count)]
        assert shown[:3] == ["dup", "__load_more__", "__error__"]
        # The machine named like the app's own row is a machine like any other.
        options.focus()
        options.highlighted = 1
        await pilot.press("enter")
        instances = app.screen.query_one(InstanceList)
        await wait_for(pilot, lambda: app.screen.machine == "__load_more__", what="it chosen")
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(instances.options.items) == 2, what="its instances")
        assert [i.slug for i in instances.options.items] == ["a", "__load_more__"]


async def test_repeated_version_ids_and_a_time_that_is_not_a_time(
    hostile: Hostile, tmp_path: Path
) -> None:
    app = app_for(hostile, tmp_path, machine="dup", instance="a")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 2, what="the history")
        history.focus()
        await pilot.press("V")
        await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen), what="versions")
        listed = app.screen.query_one(OptionList)
        assert listed.option_count == 2  # mv_1 once, and __error__
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, VersionsScreen))
        history.focus()
        history.cursor = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TransitionDetail), what="detail")
        title = str(app.screen.query_one(".title").render())
        assert "not a time" in title and "1970" not in title


async def test_json_nested_200000_deep_is_an_error_in_its_pane_and_nothing_else(
    tmp_path: Path,
) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    routes = {**ROUTES, "/machines": deep, "/machines/dup/i/a": deep}
    async with serving(routes) as server:
        app = app_for(server, tmp_path, machine="dup", instance="a")
        async with app.run_test(size=(120, 40)) as pilot:
            machines = app.screen.query_one(MachineList)
            await wait_for(pilot, lambda: machines.failed, what="the machines pane's error")
            await wait_for(pilot, lambda: "failed" in app.sub_title, what="the header")
            assert "machines" in app.sub_title and "instance" in app.sub_title
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 2, what="the history, unharmed")
            assert app.is_running


async def test_a_token_exchange_answering_gigabytes_fails_the_panes_not_the_app(
    tmp_path: Path,
) -> None:
    """An anonymous session's /tokens answer over the client's cap (64 MB here; 4 GB in
    the report) is refused within the cap, said in each pane, and nothing waits for it."""
    huge = b'{"accessToken": "' + b"x" * 70_000_000 + b'"}'
    async with serving({**ROUTES, "/tokens": huge}) as server:
        auth = AnonymousSession("org_hostile")
        connection = Connection(server.base_url, auth, "org_hostile", "hostile", False)
        app = SmbTui(connection, cache_path=tmp_path / "cache.sqlite3")
        async with app.run_test(size=(120, 40)) as pilot:
            machines = app.screen.query_one(MachineList)
            await wait_for(pilot, lambda: machines.failed, timeout=20, what="the pane's error")
            await wait_for(pilot, lambda: "machines failed" in app.sub_title, what="the header")
            assert "over" in str(machines.options._error)  # the cap, said
            assert server.requests.count("/tokens") >= 1
            assert "/machines" not in server.requests  # no call went out without a token
            assert app.is_running


async def test_a_payload_nested_deep_is_offered_and_taken_without_a_crash(
    tmp_path: Path,
) -> None:
    """An end user's payload nested nearly as deep as the client reads (880 levels; 930
    is refused as a page; the local server refuses past 64): its example in the payload
    box, taking it (→), and filling the boxes from the history all write it."""
    value: object = 1
    for _ in range(880):
        value = [value]
    event = {"type": "put", "key": "deep", "value": value}
    page = {"transitions": [{"createdAt": "2026-01-01T00:00:01Z", "event": event, "state": "on"}]}
    async with serving({**ROUTES, "/machines/dup/i/a/events": page}) as server:
        app = app_for(server, tmp_path, machine="dup", instance="a")
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 1, what="the history")
            payload = app.screen.query_one("#payload", TextArea)
            await pilot.press("4", *"put")
            await wait_for(pilot, lambda: "e.g." in str(payload.placeholder), what="example")
            await pilot.press("tab", "right")
            await pilot.pause(0.1)
            assert json.loads(payload.text)["key"] == "deep"
            payload.text = ""
            app.screen.query_one(EventComposer).fill(history.buffer.row(0).event)
            await pilot.pause(0.1)
            assert json.loads(payload.text)["key"] == "deep"


async def test_a_cursor_too_long_for_a_url_is_said_as_the_server_s_fault(
    tmp_path: Path,
) -> None:
    """A page whose cursor no URL can hold (70,000 characters): its rows shown, and the
    next page's error says why, not "unexpected: URL too long"."""
    row = {"createdAt": "2026-01-01T00:00:01Z", "event": {"type": "poke"}, "state": "on"}
    page = {"transitions": [row], "cursor": "c" * 70_000}
    async with serving({**ROUTES, "/machines/dup/i/a/events": page}) as server:
        app = app_for(server, tmp_path, machine="dup", instance="a")
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 1, what="the row")
            history.focus()
            await pilot.press("end")
            shown = lambda: " ".join(history.render_line(i).text for i in range(3))  # noqa: E731
            await wait_for(pilot, lambda: "too long for a URL" in shown(), what="why")
            assert "unexpected" not in shown()
            assert app.is_running

"""The dashboard through Textual's Pilot, against the local server over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Input, Static, TextArea, Tree

from smb_tui.local.server import ServerThread
from smb_tui.tui.screens.modals import NewInstance, TransitionDetail, TypedConfirm
from smb_tui.tui.widgets.event_composer import PAYLOAD_PLACEHOLDER, EventComposer
from smb_tui.tui.widgets.instance_list import InstanceList, InstanceOptions
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.machine_list import MachineList
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, start_server, unique
from tests.tui.helpers import app_on_new_instance, composer_status, make_app, static_text, wait_for


def tree_text(tree: Tree[Any]) -> str:
    lines: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            label = child.label
            lines.append(label.plain if isinstance(label, Text) else str(label))
            walk(child)

    walk(tree.root)
    return "\n".join(lines)


async def test_choose_a_machine_then_an_instance(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
        assert machines.options.has_focus
        slugs = [m.slug for m in machines.items]
        for _ in range(slugs.index("checkout")):
            await pilot.press("down")
        await pilot.press("enter")
        options = app.screen.query_one(InstanceOptions)
        await wait_for(
            pilot, lambda: "cart-bob" in [i.slug for i in options.items], what="instances"
        )
        assert options.has_focus
        for _ in range([i.slug for i in options.items].index("cart-bob")):
            await pilot.press("down")
        await pilot.press("enter")
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None, what="the instance")
        state_tree = tree_text(view.query_one("#state-tree", Tree))
        assert "● paid" in state_tree and "● no_address" in state_tree
        assert "checkout (parallel)" in state_tree
        summary = static_text(view.query_one("#instance-summary", Static))
        assert "running" in summary and "in-checkout" in summary
        assert '"socks"' in tree_text(view.query_one("#context-tree", Tree))
        await pilot.press("a")  # the admin view: the whole context
        assert "card_last4" in tree_text(view.query_one("#context-tree", Tree))
        await wait_for(pilot, lambda: "live" in app.sub_title, what="live updates")


async def test_history_fetches_cursor_pages_as_you_scroll(long_server: ServerThread) -> None:
    app = make_app(long_server, "counter", "busy")
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100, what="the first page")
        assert history.requested_cursors == [None]
        await pilot.press("5")
        assert history.has_focus
        for _ in range(40):
            await pilot.press("pagedown")
        await wait_for(pilot, lambda: not history.loading_page, what="pages")
        asked = history.requested_cursors
        assert len(asked) >= 4, asked
        assert len(set(asked)) == len(asked), "a page was asked for twice"
        assert history.row_count == 100 * len(asked)
        # The next page is asked for before the cursor reaches the end of what is loaded.
        assert history.cursor < history.row_count
        await pilot.press("enter")
        assert isinstance(app.screen, TransitionDetail)
        detail = app.screen.query_one("#detail-event", TextArea).text
        assert '"type"' in detail
        await pilot.press("escape")
        assert not isinstance(app.screen, TransitionDetail)


async def test_pages_taken_in_lay_out_nothing_else_and_the_scrollbar_knows_them(
    long_server: ServerThread,
) -> None:
    """More rows under a scrollbar already shown move nothing else on the screen: no
    layout of the dashboard for them (End took pages in with one every half second, each
    15-20 ms), while the scrollbar and the scrolling still know every row."""
    app = make_app(long_server, "counter", "busy")
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100, what="the first page")
        history.focus()
        await wait_for(pilot, lambda: history.show_vertical_scrollbar, what="the scrollbar")
        await pilot.pause(0.2)
        # The history's own asks for a layout (other panes may ask for theirs meanwhile).
        layouts = 0
        refresh = history.refresh

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal layouts
            layouts += bool(kwargs.get("layout"))
            return refresh(*args, **kwargs)

        history.refresh = counted  # type: ignore[method-assign]
        for _ in range(40):
            await pilot.press("pagedown")
        await wait_for(pilot, lambda: history.row_count >= 300, what="more pages")
        await wait_for(pilot, lambda: not history.loading_page, what="the pages")
        await pilot.pause(0.1)
        assert layouts == 0
        scrollbar = history.vertical_scrollbar
        assert scrollbar.window_virtual_size == history.row_count + 1
        assert (
            history.max_scroll_y == history.row_count + 1 - history.scrollable_content_region.height
        )
        history.scroll_end(animate=False, immediate=True)  # to the last row known
        assert history.scroll_offset.y == history.max_scroll_y > 200


async def test_a_drawing_pass_looks_up_the_history_style_once(
    long_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its style is the same for every line of a pass: looked up once a pass, not once or
    three times a line (it walks the widget's ancestors: 40% of drawing new rows). The
    lines are still drawn in it: a row's last cell has the pane's background."""
    app = make_app(long_server, "counter", "busy")
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100, what="the first page")
        await pilot.pause(0.2)
        lookups = passes = lines = 0
        style_of = TransitionHistory.rich_style.fget  # type: ignore[attr-defined]
        render_lines = TransitionHistory.render_lines
        render_line = TransitionHistory.render_line

        def looked_up(widget: TransitionHistory) -> Any:
            nonlocal lookups
            lookups += 1
            return style_of(widget)

        def pass_(widget: TransitionHistory, crop: Any) -> Any:
            nonlocal passes
            passes += 1
            return render_lines(widget, crop)

        def line(widget: TransitionHistory, y: int) -> Any:
            nonlocal lines
            lines += 1
            return render_line(widget, y)

        monkeypatch.setattr(TransitionHistory, "rich_style", property(looked_up))
        monkeypatch.setattr(TransitionHistory, "render_lines", pass_)
        monkeypatch.setattr(TransitionHistory, "render_line", line)
        history._lines.clear()  # every row drawn anew
        history.refresh()
        await pilot.pause(0.1)
        assert passes >= 1 and lines >= history.scrollable_content_region.height
        assert lookups == passes
        last = history.render_line(1)._segments[-1]  # (row 0 has the cursor)
        assert last.style is not None and last.style.bgcolor == history.rich_style.bgcolor


async def test_history_reaches_the_real_end_with_a_marker_and_lets_go_after(
    tmp_path: Path,
) -> None:
    with start_server(tmp_path, busy_history=250) as small:
        app = make_app(small, "counter", "busy")
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 100)
            history.focus()
            # End asks for every page itself: the cursor it moves asks for none (one that
            # did made the seek wait for it), nor do keys pressed meanwhile.
            fetched_by_scrolling: list[object] = []
            fetch_page = history._fetch_page
            history._fetch_page = lambda *asked: (  # type: ignore[method-assign]
                fetched_by_scrolling.append(asked) or fetch_page(*asked)
            )
            await pilot.press("end")
            for _ in range(10):
                await pilot.press("end", "pagedown")
                await pilot.pause(0.1)
            await wait_for(pilot, lambda: history.at_end, what="the end of history")
            assert fetched_by_scrolling == []
            assert history.row_count == 250
            assert len(history.requested_cursors) == 3
            assert (
                "start of history: 250 transitions"
                in history.render_line(history.row_count - history.scroll_offset.y).text
            )
            # Opening another instance frees these rows, though the connection End opened
            # to ask ahead is kept alive: its context held End's hook, and through it every
            # row, for as long as the connection lived.
            left = weakref.ref(history.buffer)
            app.screen.open_instance("other")
            await wait_for(pilot, lambda: history.buffer is not left())
            await pilot.pause(0.2)
            gc.collect()
            assert left() is None, [type(r).__name__ for r in gc.get_referrers(left())]


async def test_send_an_event_and_see_the_settled_state_and_diff(server: ServerThread) -> None:
    app, _ = app_on_new_instance(server, "checkout", "tui-send")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 1)
        await pilot.press("4")
        assert app.screen.query_one("#event-type", Input).has_focus
        await pilot.press(*"add_item")
        payload = app.screen.query_one("#payload", TextArea)
        payload.text = '{"item": "lamp", "price": 40}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "settled" in composer_status(app), what="the send")
        status = composer_status(app)
        assert "+public=" in status or "~public" in status or "+" in status
        await wait_for(pilot, lambda: history.row_count == 2, what="the new transition")
        assert history.row(0).event_type == "add_item"
        # The next event changes the state: the diff shows before and after.
        app.screen.query_one("#event-type", Input).value = "start_checkout"
        payload.text = ""
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: "start_checkout" in [history.row(0).event_type],
            what="the second transition",
        )
        await wait_for(pilot, lambda: "→" in composer_status(app))
        status = composer_status(app)
        assert "shopping.browsing → shopping.checkout" in status
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: "● unpaid" in tree_text(view.query_one("#state-tree", Tree)))


async def test_invalid_json_is_never_sent(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "counter", "tui-invalid")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 1)
        app.screen.query_one("#event-type", Input).value = "increment"
        app.screen.query_one("#payload", TextArea).text = '{"by": 2,'
        await pilot.pause()
        assert "nothing will be sent" in composer_status(app)
        assert app.screen.query_one("#payload", TextArea).has_class("invalid")
        await pilot.press("4", "enter")
        await pilot.pause(0.3)
        assert "nothing was sent" in composer_status(app)
        app.screen.query_one("#payload", TextArea).text = "[1, 2]"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert "must be a JSON object" in composer_status(app)
    with client(server) as http:
        events = http.get(f"/machines/counter/i/{slug}/events").json()["transitions"]
    assert [e["event"]["type"] for e in events] == ["xstate.init"]


async def test_the_authorizer_refusal_is_said_plainly(server: ServerThread) -> None:
    app = make_app(server, "document", "handbook")
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one(EventComposer)
        await wait_for(pilot, lambda: composer.snapshot.machine == "document")
        app.screen.query_one("#event-type", Input).value = "submit"
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "Refused" in composer_status(app), what="the refusal")
        status = composer_status(app)
        assert "allowWrite" in status and "403" in status
        # The same event, sent as the document's owner, goes through.
        app.screen.query_one("#send-as", Input).value = '{"sub": "alice"}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "settled" in composer_status(app), what="send as alice")
        assert "draft → in_review" in composer_status(app)
        with client(server, "alice") as http:
            http.post("/machines/document/i/handbook/events", json={"event": "reject"})


async def test_a_delayed_transition_appears_live(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "blink", "tui-blink")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: "live" in app.sub_title, what="the subscription")
        with client(server) as http:
            http.post(f"/machines/blink/i/{slug}/events", json={"event": "switch_on"})
        await wait_for(
            pilot,
            lambda: (
                history.row_count >= 3 and history.row(0).event_type == "xstate.after(300)#blink.on"
            ),
            what="the delayed transition",
        )
        assert [history.row(i).event_type for i in range(3)] == [
            "xstate.after(300)#blink.on",
            "switch_on",
            "xstate.init",
        ]
        await wait_for(pilot, lambda: "● off" in tree_text(view.query_one("#state-tree", Tree)))


async def test_new_transitions_do_not_move_what_you_are_looking_at(
    server: ServerThread,
) -> None:
    # An instance of its own: the session server's counter/busy must keep exactly its
    # seeded history for the tests that read it (in any order).
    slug = unique("tui-steady")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug}).raise_for_status()
        for _ in range(59):
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    app = make_app(server, "counter", slug)
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 60)
        history.focus()
        for _ in range(30):
            await pilot.press("down")
        looked_at = history.row(history.cursor)
        top = history.row(history.scroll_offset.y)
        assert history.scroll_offset.y > 0  # scrolled: the top row is not the newest
        with client(server) as http:
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "decrement"})
        await wait_for(
            pilot,
            lambda: history.row(0).event_type == "decrement" and history.row(0).at > top.at,
            what="the new transition",
        )
        assert history.row(history.cursor) == looked_at
        assert history.row(history.scroll_offset.y) == top
        assert history.border_subtitle.startswith("↑ 1 new (Home)")
        await pilot.press("home")
        assert "new" not in history.border_subtitle


async def test_create_pause_resume_and_delete(server: ServerThread) -> None:
    slug = unique("tui-life")
    app = make_app(server, "scratch")
    async with app.run_test(size=(120, 40)) as pilot:
        options = app.screen.query_one(InstanceOptions)
        await wait_for(pilot, lambda: options.items is not None and not options._loading)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewInstance))
        app.screen.query_one("#new-slug", Input).value = slug
        app.screen.query_one("#new-context", TextArea).text = '{"public": {"rank": 3}}'
        await pilot.click("#create")
        view = app.screen.query_one(InstanceView)
        await wait_for(
            pilot,
            lambda: view.snapshot.instance == slug and view.state is not None,
            what="the new instance",
        )
        assert view.state is not None and view.state.public_context == {"rank": 3}

        async def confirm() -> None:
            await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirm))
            app.screen.query_one(Input).value = "not-it"
            await pilot.press("enter")
            assert isinstance(app.screen, TypedConfirm), "a wrong name must not confirm"
            app.screen.query_one(Input).value = slug
            await pilot.press("enter")

        await pilot.press("P")
        await confirm()
        await wait_for(
            pilot, lambda: view.admin is not None and view.admin.status == "paused", what="paused"
        )
        await pilot.press("P")
        await confirm()
        await wait_for(
            pilot, lambda: view.admin is not None and view.admin.status == "running", what="resumed"
        )
        await pilot.press("D")
        await confirm()
        await wait_for(pilot, lambda: view.snapshot.instance is None, what="deleted")
        # Nothing still targets the deleted instance.
        assert slug not in str(view.border_title)
        assert slug not in composer_status(app)
        assert app.screen.query_one(TransitionHistory).row_count == 0
        await pilot.press("4", *"poke", "enter")
        assert "Open an instance first" in composer_status(app)
    with client(server) as http:
        assert http.get(f"/machines/scratch/i/{slug}").status_code == 404


async def test_server_text_is_shown_as_text_never_as_markup(server: ServerThread) -> None:
    slug = unique("tui-markup")
    evil = {"public": {"a": "[bold red]x[/]", "b": "[@click=app.quit]quit[/]", "[c]": "[/]"}}
    with client(server) as http:
        http.post("/machines/scratch", json={"slug": slug, "context": evil})
        http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "put", "key": "[link=x]k", "value": "[b]v"}},
        )
    app = make_app(server, "scratch", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: view.state is not None and history.row_count == 2)
        context = tree_text(view.query_one("#context-tree", Tree))
        assert '"[bold red]x[/]"' in context
        assert '"[@click=app.quit]quit[/]"' in context
        assert "[c]" in context
        await pilot.click("#context-tree")
        await pilot.pause(0.2)
        assert app.is_running
        assert "[link=x]k" in history.render_line(0).text


async def test_a_server_that_goes_away_shows_in_the_panes(tmp_path: Path) -> None:
    running = start_server(tmp_path, busy_history=20)
    app = make_app(running, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None and "live" in app.sub_title)
        running.stop()
        await wait_for(pilot, lambda: "reconnecting" in app.sub_title, what="reconnecting")
        await pilot.press("r")
        error = view.query_one("#instance-summary", Static)
        # Stale from the moment live updates stopped; after r, also why.
        await wait_for(pilot, lambda: "r to retry" in static_text(error), what="error")
        assert "stale" in static_text(error) and "could not reach" in static_text(error)
        app.screen.query_one("#event-type", Input).value = "increment"
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "could not reach" in composer_status(app))
        assert app.is_running


async def test_the_header_names_the_profile_and_the_live_status(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "live" in app.sub_title)
        assert app.sub_title == "test  ● live"


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_usable_at_small_and_large_sizes(server: ServerThread, size: tuple[int, int]) -> None:
    app = make_app(server, "counter", "busy")
    async with app.run_test(size=size) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100)
        assert history.size.height >= (4 if size[1] == 24 else 20)
        assert app.screen.query_one("#event-type", Input).size.height == 1


async def test_copy_state_and_transition_as_json(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None and history.row_count > 0)
        history.focus()
        await pilot.press("c")
        assert '"publicContext"' in app.clipboard and '"count"' in app.clipboard
        await pilot.press("y")
        assert '"createdAt"' in app.clipboard and '"event"' in app.clipboard


async def test_a_copy_too_large_for_many_terminals_says_so_rather_than_copied(
    server: ServerThread,
) -> None:
    """OSC 52 copies past ~100 kB are dropped by many terminals without a word: the
    notice said "copied" all the same."""
    app, slug = app_on_new_instance(server, "scratch", "big-copy")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None)
        app.screen.query_one(TransitionHistory).focus()
        await pilot.press("x")  # small: copied
        said = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
        await wait_for(pilot, lambda: "Context copied as JSON" in said(), what=said)
        app.clear_notifications()
        with client(server) as http:
            big = {"type": "put", "key": "big", "value": "x" * 150_000}
            assert http.post(f"/machines/scratch/i/{slug}/events", json={"event": big}).is_success
        await wait_for(pilot, lambda: view.state is not None and "big" in view.state.public_context)
        await pilot.press("x")
        assert app.clipboard.count("x") >= 150_000
        [warning] = said()
        assert "150 kB" in warning and "drop a copy this large" in warning, warning


async def test_every_action_is_in_the_command_palette(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in (
            "Create an instance of this machine",
            "Pause or resume the instance",
            "Delete the instance and history",
            "Set the desired version",
            "Focus history",
            "Focus instances",
            "All keys",
        ):
            assert title in titles


async def test_not_connected_offers_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.screens.not_connected import NotConnected

    app = SmbTui(None, reason="no credentials")
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, NotConnected)
        said = " ".join(static_text(s) for s in app.screen.query(Static))
        # Where the profiles go, and a key's secret kept off the command line.
        assert str(tmp_path / "conf" / "smb-tui" / "config.toml") in said
        assert "--secret-file FILE" in said and "--secret ..." not in said
        await pilot.press("d")
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="the demo's machines")
        assert app.demo_server is not None
    assert (tmp_path / "smb-tui" / "demo.db").exists()


async def test_the_demo_paints_before_its_server_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's server (its imports, its V8 workers, uvicorn) starts in a process of
    its own beside the dashboard: the panes paint and say loading while it is held, and
    the machines come when it answers."""
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.demo import start_demo

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    demo, connection = start_demo()
    os.kill(demo.process.pid, signal.SIGSTOP)  # held before it can serve
    try:
        app = SmbTui(connection, demo_server=demo)
        async with app.run_test(size=(100, 30)) as pilot:
            machines = app.screen.query_one(MachineList)
            await pilot.pause(0.5)
            assert machines.items == [] and not machines.failed
            assert "serving" not in demo._said
            os.kill(demo.process.pid, signal.SIGCONT)
            await wait_for(pilot, lambda: len(machines.items) >= 6, what="the demo's machines")
    finally:
        if demo.process.returncode is None:  # the app stops it as it ends
            os.kill(demo.process.pid, signal.SIGCONT)
            demo.stop()
    assert demo.process.returncode == 0  # stopped cleanly


async def test_a_demo_server_that_cannot_start_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.demo import start_demo

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "smb-tui" / "demo.db").mkdir(parents=True)  # a folder: no database opens
    demo, connection = start_demo()
    app = SmbTui(connection, demo_server=demo)
    async with app.run_test(size=(100, 30)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: machines.failed, what="the machines list to fail")
        await wait_for(
            pilot,
            lambda: any(
                "the demo server could not start: unable to open database file" in n.message
                for n in app._notifications
            ),
            what="why the demo could not start",
        )
    demo.stop()


async def test_the_demo_server_ends_with_the_dashboard(tmp_path: Path) -> None:
    """However the dashboard ends (here: killed), its demo server does not outlive it."""
    script = (
        "import sys, time; from smb_tui.tui.demo import start_demo;"
        f" demo, _ = start_demo(db=__import__('pathlib').Path({str(tmp_path / 'd.db')!r}),"
        f" key_path=__import__('pathlib').Path({str(tmp_path / 'k')!r}));"
        " demo.wait_for('serving', 60); print(demo.process.pid, flush=True); time.sleep(600)"
    )
    dashboard = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert dashboard.stdout is not None
    server_pid = int(dashboard.stdout.readline())
    dashboard.kill()
    dashboard.wait()
    for _ in range(150):
        if not Path(f"/proc/{server_pid}").exists() or "Z" in state_of(server_pid):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the demo server outlived the dashboard")


def state_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


async def test_enter_on_a_slug_not_loaded_opens_it(server: ServerThread) -> None:
    app = make_app(server, "counter")
    async with app.run_test(size=(120, 40)) as pilot:
        options = app.screen.query_one(InstanceOptions)
        await wait_for(pilot, lambda: "small" in [i.slug for i in options.items])
        slug = unique("tui-late")
        with client(server) as http:
            http.post("/machines/counter", json={"slug": slug})
        assert slug not in [i.slug for i in options.items]
        await pilot.press("2", "slash")
        assert app.screen.query_one(InstanceList).filter_box.has_focus
        await pilot.press(*slug, "enter")
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.snapshot.instance == slug and view.state is not None)
        app.screen.query_one(InstanceList).filter_box.value = "bad slug!"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert view.snapshot.instance == slug  # a bad slug opens nothing


async def test_suggestions_gather_over_pages_and_stay_with_their_instance(
    server: ServerThread,
) -> None:
    """A type seen only on the first page is still suggested once the next page is in
    (each page used to replace the suggestions), and nothing of one instance's history
    is suggested on another."""
    app, slug = app_on_new_instance(server, "scratch", "tui-types")
    with client(server) as http:
        events = f"/machines/scratch/i/{slug}/events"
        http.post(events, json={"event": "rare-type"})  # no transition: kept all the same
        for index in range(100):  # the whole first page
            http.post(events, json={"event": {"type": "put", "key": "k", "value": index}})
        other = unique("tui-types-other")
        http.post("/machines/scratch", json={"slug": other})
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100)
        await pilot.press("5", *["pagedown"] * 12)  # scrolled to, not End's seek
        await wait_for(pilot, lambda: history.row_count == 102, what="the second page")
        await pilot.press("4", "p", "u")
        event_type = app.screen.query_one("#event-type", Input)
        await wait_for(pilot, lambda: event_type._suggestion == "put", what="put suggested")
        event_type.value = "ra"
        await wait_for(pilot, lambda: event_type._suggestion == "rare-type", what="rare-type")
        app.screen.open_instance(other)
        await wait_for(pilot, lambda: history.row_count == 1)
        await pilot.pause(0.2)
        event_type.focus()
        event_type.value = "ra"
        await pilot.pause(0.3)
        assert event_type._suggestion == ""


async def test_the_payload_box_offers_the_history_s_payload_for_the_type(
    server: ServerThread,
) -> None:
    """Empty, the payload box shows the newest payload of the type typed (made safe, not
    read as markup); → takes it whole, and that is what is sent."""
    app, slug = app_on_new_instance(server, "scratch", "tui-example")
    hostile = {"key": "[red]k\x1b[2J\u202e", "value": 1}
    with client(server) as http:
        events = f"/machines/scratch/i/{slug}/events"
        http.post(events, json={"event": {"type": "put", "key": "old", "value": 0}})
        http.post(events, json={"event": {"type": "put", **hostile}})
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 3)
        payload = app.screen.query_one("#payload", TextArea)
        await pilot.press("4", *"plan")  # in no event of the history: the usual hint
        await pilot.pause(0.1)
        assert payload.placeholder == PAYLOAD_PLACEHOLDER
        app.screen.query_one("#event-type", Input).value = ""
        await pilot.press(*"put")
        await wait_for(pilot, lambda: "the history's" in str(payload.placeholder))
        shown = payload.placeholder
        assert isinstance(shown, Content)  # a literal: "[red]" is not read as markup
        assert "[red]k\\u001b[2J\\u202e" in shown.plain, shown.plain
        assert "\x1b" not in shown.plain and "\u202e" not in shown.plain
        await pilot.press("tab", "right")
        assert json.loads(payload.text) == hostile
        assert "\\u001b" in payload.text  # shown escaped, as `fill` shows one
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: "put" in composer_status(app) and "sending" not in composer_status(app),
        )
    with client(server) as http:
        newest = http.get(f"/machines/scratch/i/{slug}/events").json()["transitions"][0]
    assert newest["event"] == {"type": "put", **hostile}


@pytest.mark.parametrize("key", ["right", "tab"])
async def test_suggestions_come_from_history_and_either_key_takes_one(
    server: ServerThread, key: str
) -> None:
    """What the box shows is what is sent: → or Tab after `in` takes `increment` (the
    box showed it); then Tab goes to the payload, and with nothing suggested Tab moves
    on at once."""
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count > 0)
        await pilot.press("4", "i", "n")
        event_type = app.screen.query_one("#event-type", Input)
        await wait_for(pilot, lambda: event_type._suggestion == "increment")
        await pilot.press(key)
        assert event_type.value == "increment" and event_type.has_focus
        await pilot.press("tab")
        assert app.screen.query_one("#payload", TextArea).has_focus
        event_type.focus()
        event_type.value = "zz"  # nothing suggested: Tab moves on at once
        await pilot.pause()
        await pilot.press("tab")
        assert event_type.value == "zz" and not event_type.has_focus


async def test_set_the_desired_version(server: ServerThread) -> None:
    slug = unique("tui-upgrade")
    with client(server) as http:
        v1 = http.get("/machines/order/v").json()["versions"][-1]["id"]
        http.post("/machines/order", json={"slug": slug, "machineVersionId": v1})
    app = make_app(server, "order", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.admin is not None)
        await pilot.press("U")
        from smb_tui.tui.screens.modals import ChooseVersion

        await wait_for(pilot, lambda: isinstance(app.screen, ChooseVersion))
        await pilot.press("enter")  # the first listed: v2, the newest
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirm))
        app.screen.query_one(Input).value = slug
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: view.admin is not None and view.admin.desired_machine_version is not None,
            what="desired",
        )
        summary = static_text(view.query_one("#instance-summary", Static))
        assert "v1 → v2 next event" in summary


async def test_a_500_shows_in_the_composer(server: ServerThread) -> None:
    app, _ = app_on_new_instance(server, "scratch", "tui-500")
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one(EventComposer)
        await wait_for(pilot, lambda: composer.snapshot.machine == "scratch")
        app.screen.query_one("#event-type", Input).value = "corrupt"
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "HTTP 500" in composer_status(app), what="the 500")
        assert "not JSON" in composer_status(app)
        assert app.is_running


async def test_a_large_context_unfolds_on_demand(server: ServerThread) -> None:
    slug = unique("tui-large")
    big = {f"k{i}": {f"j{j}": j for j in range(50)} for i in range(300)}
    with client(server) as http:
        assert (
            http.post(
                "/machines/scratch", json={"slug": slug, "context": {"public": {"big": big}}}
            ).status_code
            == 200
        )
    app = make_app(server, "scratch", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None)
        tree = view.query_one("#context-tree", Tree)
        shown = tree_text(tree)
        assert "k299 {…} 50" in shown
        assert "j49" not in shown  # 15,000 values, none built until asked for
        big_node = next(n for n in tree.root.children[0].children if "big" in str(n.label))
        first = big_node.children[0]
        first.expand()
        await pilot.pause(0.1)
        assert "j49: 49" in tree_text(tree)
        # A live update redraws the tree; what was opened stays open.
        with client(server) as http:
            http.post(
                f"/machines/scratch/i/{slug}/events",
                json={"event": {"type": "put", "key": "extra", "value": 1}},
            )
        await wait_for(pilot, lambda: "extra: 1" in tree_text(tree), what="the update")
        assert "j49: 49" in tree_text(tree)


async def test_escape_leaves_the_composer_so_keys_are_keys_again(server: ServerThread) -> None:
    app = make_app(server, "counter", "busy")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100)
        await pilot.press("4", "x", "tab")  # no type starts with x: nothing to take
        payload = app.screen.query_one("#payload", TextArea)
        assert payload.has_focus
        await pilot.press("5", "tab")  # a digit in a text box is a digit; tab moves on
        assert payload.text == "5" and not payload.has_focus
        await pilot.press("escape", "5", "pagedown")
        assert history.has_focus and history.cursor > 0
        # Esc from the composer lands on the instance pane, and a dialog opened from
        # there gives focus back to it: "q" then quits, it is typed into nothing.
        await pilot.press("4", "escape")
        assert app.screen.query_one("#state-tree").has_focus
        await pilot.press("D", "escape")
        assert app.screen.query_one("#state-tree").has_focus


async def test_an_upgrade_another_client_causes_shows_the_new_version(
    server: ServerThread,
) -> None:
    slug = unique("tui-moved")
    with client(server) as http:
        versions = http.get("/machines/order/v").json()["versions"]
        v1, v2 = versions[-1]["id"], versions[0]["id"]
        http.post("/machines/order", json={"slug": slug, "machineVersionId": v1})
    app = make_app(server, "order", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.admin is not None)
        summary = view.query_one("#instance-summary", Static)
        assert "version v1" in static_text(summary)
        with client(server) as http:  # someone else upgrades it, then sends an event
            http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": v2})
            assert http.post(f"/machines/order/i/{slug}/events", json={"event": "pay"}).is_success
        await wait_for(
            pilot,
            lambda: (
                view.admin is not None
                and view.admin.machine_version is not None
                and view.admin.machine_version.id == v2
            ),
            what="the new version",
        )
        assert "version v2" in static_text(summary) and "→" not in static_text(summary)


async def test_pages_faster_than_the_screen_keep_every_event_type(server: ServerThread) -> None:
    """A `Loaded` still waiting gives way to the next, which takes its event types: the
    composer's suggestions lose none of them."""
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count > 0)
        await pilot.pause()
        history.post_message(TransitionHistory.Loaded({"first-page-type": "first-page-type"}))
        history.post_message(TransitionHistory.Loaded({"second-page-type": "second-page-type"}))
        composer = app.screen.query_one(EventComposer)
        await wait_for(pilot, lambda: "second-page-type" in composer.history_types)
        assert "first-page-type" in composer.history_types


class HeldDemo:
    """A demo server as the app sees one, whose "seeded" the test says."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str, Any]] = []

    def stop(self) -> None:
        pass

    def when_failed(self, report: Any) -> None:
        pass

    def when_said(self, what: str, then: Any) -> None:
        self.waiting.append((what, then))

    def say(self, what: str) -> None:
        for said, then in self.waiting:
            if said == what:
                then()


async def test_instances_seeded_after_the_lists_were_read_show_without_a_reload(
    tmp_path: Path,
) -> None:
    """A new demo database is seeded after its server answers: a dashboard opened on a
    machine at once read its instances before they existed, and showed "(none)" until r
    (seen in a fresh terminal: `smb-tui demo --machine ticket`)."""
    from smb_tui.tui.app import SmbTui
    from tests.tui.helpers import connection

    with start_server(tmp_path) as server:
        demo = HeldDemo()
        app = SmbTui(connection(server), machine="scratch", demo_server=demo)
        async with app.run_test(size=(100, 30)) as pilot:
            options = app.screen.query_one(InstanceOptions)
            await wait_for(pilot, lambda: options.settled, what="the first read")
            slug = unique("seeded")
            with client(server) as http:  # made as the demo seeds, after that read
                assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
            await pilot.pause(0.5)
            assert slug not in [item.slug for item in options.items]
            demo.say("seeded")
            await wait_for(
                pilot, lambda: slug in [item.slug for item in options.items], what="the seeded one"
            )


def test_the_demo_server_says_when_it_has_seeded(tmp_path: Path) -> None:
    import threading

    from smb_tui.tui.demo import start_demo

    demo, _ = start_demo(db=tmp_path / "d.db", key_path=tmp_path / "k")
    try:
        seeded, late = threading.Event(), threading.Event()
        demo.when_said("seeded", seeded.set)
        assert seeded.wait(90)
        demo.when_said("seeded", late.set)  # after the fact: at once
        assert late.is_set()
    finally:
        demo.stop()


async def test_an_instance_opened_before_the_demo_seeded_it_opens_once_seeded(
    tmp_path: Path,
) -> None:
    """`smb-tui demo --machine ticket --instance ticket-101` in a fresh home: the instance
    did not exist yet when opened, and stayed "no such instance" (history and live
    updates too) although it came a second later."""
    from smb_tui.tui.app import SmbTui
    from tests.tui.helpers import connection

    with start_server(tmp_path) as server:
        demo = HeldDemo()
        slug = unique("seeded")
        app = SmbTui(connection(server), machine="scratch", instance=slug, demo_server=demo)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            screen: Any = app.screen
            await wait_for(
                pilot, lambda: screen.snapshot.phase == "not-found", what="no such instance"
            )
            with client(server) as http:
                assert http.post("/machines/scratch", json={"slug": slug}).status_code == 200
            demo.say("seeded")
            await wait_for(pilot, lambda: history.row_count >= 1, what="its history")
            assert history.failed is None
            await wait_for(pilot, lambda: screen.snapshot.phase != "not-found", what="it open")
            await wait_for(pilot, lambda: screen.snapshot.state is not None, what="its state")


async def test_without_the_servers_packages_the_demo_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lean installation (requirements/dashboard.txt) offered the demo, which then
    failed in its process with an import error."""
    from smb_tui import install
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.screens.not_connected import NotConnected

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    real = install.find_spec
    monkeypatch.setattr(
        install, "find_spec", lambda name: None if name == "uvicorn" else real(name)
    )
    app = SmbTui(None, reason="no credentials")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        await wait_for(
            pilot,
            lambda: any("pip install uvicorn" in n.message for n in app._notifications),
            what="what to install",
        )
        assert isinstance(app.screen, NotConnected) and app.demo_server is None


async def test_lists_stop_at_their_ends_and_do_not_wrap(tmp_path: Path) -> None:
    """Up on the first instance stays there: Textual's list wrapped round to the last
    row loaded (and a long list then asked for its next page); Down on the last stays."""
    with start_server(tmp_path, page_size=2) as small_pages:
        with client(small_pages) as http:
            for name in ("a-first", "b-middle", "c-last"):
                http.post("/machines/scratch", json={"slug": name})
        app = make_app(small_pages, "scratch")
        async with app.run_test(size=(120, 40)) as pilot:
            options = app.screen.query_one(InstanceOptions)
            await wait_for(pilot, lambda: len(options.items) == 3 and options.settled)
            options.focus()
            options.highlighted = 0
            await pilot.press("up", "k")
            assert options.highlighted_id == "a-first"
            await pilot.press("G", "down", "j")
            assert options.highlighted_id == "c-last"
            await pilot.press("up")
            assert options.highlighted_id == "b-middle"


async def test_exporting_held_rows_lets_the_screen_run_between_them() -> None:
    """Rows held are exported without the network, but not in one go: the loop runs
    other work while a hundred thousand are written (the keys waited for all of them)."""
    from smb_tui.api.models import Transition
    from smb_tui.core.history_buffer import Row
    from smb_tui.tui.screens.dashboard import _held

    row = Row.of(
        Transition.model_validate(
            {"createdAt": "2026-01-01T00:00:00.000Z", "event": {"type": "tick"}, "state": "on"}
        )
    )
    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beside = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    seen_at_start = ticks
    written = [t async for t in _held([row] * 5_000, oldest_first=False)]
    beside.cancel()
    assert len(written) == 5_000 and written[0].event == {"type": "tick"}
    assert ticks - seen_at_start >= 4  # once a thousand rows, at least


@pytest.mark.parametrize(("width", "breakpoint"), [(120, "-wide"), (80, "-narrow")])
async def test_the_first_frame_styles_the_screen_once(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, width: int, breakpoint: str
) -> None:
    """Each class set on the screen after its styles are worked out restyles every widget
    on it: the width's breakpoint, where the focus starts and the composer's "send as"
    are set before, so that the screen is styled as a whole once."""
    from textual.app import App

    from smb_tui.tui.screens.dashboard import DashboardScreen

    styled: list[object] = []
    update_styles = App.update_styles

    def counted(app: App[object], node: Any, animate: bool = True) -> None:
        styled.append(node)
        update_styles(app, node, animate)

    monkeypatch.setattr(App, "update_styles", counted)
    app = make_app(server)
    async with app.run_test(size=(width, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.has_class(breakpoint, "-picking")
        assert screen.query_one(EventComposer).has_class("-can-act-as")
        assert sum(node is screen for node in styled) == 1
        assert not [node for node in styled if isinstance(node, EventComposer)]
        await pilot.press("4")  # the composer: no longer picking
        assert not screen.has_class("-picking")


async def test_no_screen_makes_the_app_parse_its_stylesheet_again(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A screen's own stylesheet read when it is first shown makes Textual parse every
    rule of the app again and restyle every widget: the dashboard's and the dialogs'
    are read with the app's."""
    from textual.css.stylesheet import Stylesheet

    from smb_tui.tui.screens.modals.help import HelpScreen

    reparsed: list[object] = []
    reparse = Stylesheet.reparse

    def counted(stylesheet: Stylesheet) -> None:
        reparsed.append(stylesheet)
        reparse(stylesheet)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the keys")
        assert reparsed == []


async def test_the_first_frame_is_not_drawn_to_be_thrown_away(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual starts an app inside a batch of updates that holds every frame back: a
    first screen pushed then was drawn in it for nothing, and its first frame came
    after the screen's own start had run. It is pushed once the app has started."""
    from textual.app import App

    from smb_tui.tui.screens.dashboard import DashboardScreen

    held_back: list[object] = []
    display = App._display

    def noted(app: App[object], screen: Any, renderable: Any) -> None:
        if app._batch_count and renderable is not None:
            held_back.append(screen)
        display(app, screen, renderable)

    monkeypatch.setattr(App, "_display", noted)
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, DashboardScreen)  # run_test waits for it
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
    assert not [screen for screen in held_back if isinstance(screen, DashboardScreen)]


async def test_the_first_frame_is_drawn_before_the_client_is_made(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the client loads its module, with httpx, pydantic and the models (a third
    of the dashboard's imports): the dashboard draws its first frame, then makes it and
    asks for the machines, and opens the instance it was started on."""
    from textual.app import App

    from smb_tui.config import Connection
    from smb_tui.tui.screens.dashboard import DashboardScreen

    frames: list[object] = []
    frames_before_client: list[int] = []
    machines_at_first_frame: list[str] = []
    display, made = App._display, Connection.client

    def noted(app: App[object], screen: Any, renderable: Any) -> None:
        if renderable is not None and isinstance(screen, DashboardScreen):
            if not frames:
                options = screen.query_one(MachineList).options
                shown = (options.get_option_at_index(n) for n in range(options.option_count))
                machines_at_first_frame.extend(str(option.prompt) for option in shown)
            frames.append(screen)
        display(app, screen, renderable)

    def client(self: Connection) -> Any:
        frames_before_client.append(len(frames))
        return made(self)

    monkeypatch.setattr(App, "_display", noted)
    monkeypatch.setattr(Connection, "client", client)
    app, slug = app_on_new_instance(server, "counter", "first-frame")
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.snapshot.instance == slug, what="the instance")
        await wait_for(pilot, lambda: view.snapshot.phase == "ready", what="its state")
    assert len(frames_before_client) == 1  # one client, made once the first frame was out
    assert frames_before_client[0] >= 1
    assert machines_at_first_frame == ["Loading…"]  # not an empty pane


async def test_the_dashboard_starts_focused_on_the_machines_with_its_footer_built_once(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the way to the first machines, each step done once: the focus goes straight to
    the machine list (Textual's own choice was the first box, then the focus moved, and
    the footer's keys were built for each, 10 ms apiece), and the machine list sets its
    options for Loading... and then for the machines (it set them four times)."""
    from textual.screen import Screen

    from smb_tui.tui.widgets.machine_list import MachineOptions
    from smb_tui.tui.widgets.whole_footer import WholeFooter

    focused: list[str | None] = []
    rebuilds: list[int] = []
    option_sets: list[int] = []
    set_focus, recompose, set_options = (
        Screen.set_focus,
        WholeFooter.recompose,
        MachineOptions.set_options,
    )

    def focusing(self: Screen[Any], widget: Any, *args: Any, **kwargs: Any) -> None:
        focused.append(getattr(widget, "id", None))
        set_focus(self, widget, *args, **kwargs)

    async def rebuilding(self: WholeFooter) -> None:
        rebuilds.append(1)
        await recompose(self)

    def setting(self: MachineOptions, options: Any) -> Any:
        option_sets.append(1)
        return set_options(self, options)

    monkeypatch.setattr(Screen, "set_focus", focusing)
    monkeypatch.setattr(WholeFooter, "recompose", rebuilding)
    monkeypatch.setattr(MachineOptions, "set_options", setting)
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6, what="machines")
        await pilot.pause(0.2)
        assert app.screen.focused is machines.options
        assert set(focused) == {"machine-options"}
    assert len(rebuilds) == 1
    assert len(option_sets) == 2


async def test_footer_changes_while_a_rebuild_waits_are_shown_by_that_rebuild(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started on an instance, the focus moves and the instance's keys come while the
    footer's first rebuild waits for a refresh: that one rebuild shows them all (each
    change had a rebuild of its own: five where two do), and the keys shown are the
    instance's."""
    from textual.widgets._footer import FooterKey

    from smb_tui.tui.widgets.whole_footer import WholeFooter, _shown

    told: list[object] = []
    rebuilds: list[int] = []
    changed, recompose = WholeFooter.bindings_changed, WholeFooter.recompose

    def telling(self: WholeFooter, screen: Any) -> None:
        if screen is self.screen and self.is_attached and _shown(screen) != self._shown:
            told.append(_shown(screen))
        changed(self, screen)

    async def rebuilding(self: WholeFooter) -> None:
        rebuilds.append(1)
        await recompose(self)

    monkeypatch.setattr(WholeFooter, "bindings_changed", telling)
    monkeypatch.setattr(WholeFooter, "recompose", rebuilding)
    app, _ = app_on_new_instance(server, "counter", "footer")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        view = screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.snapshot.can_send, what="the instance")
        await pilot.pause(0.3)
        shown = {key.key for key in screen.query(FooterKey)}
        assert "a" in shown  # the instance's keys: an event can be sent
    assert len(told) >= 2
    assert 1 <= len(rebuilds) < len(told)


async def test_a_base_url_that_is_not_one_says_so_in_place_of_the_dashboard(
    server: ServerThread,
) -> None:
    from dataclasses import replace

    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.screens.not_connected import NotConnected
    from tests.tui.helpers import connection

    app = SmbTui(replace(connection(server), base_url="http://127.0.0.1:port"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NotConnected), what="NotConnected")
        said = " ".join(static_text(s) for s in app.screen.query(Static))
        assert "'http://127.0.0.1:port' is not a URL" in said


async def test_a_session_change_while_the_screen_is_taken_down_shows_nothing(
    server: ServerThread,
) -> None:
    """Textual removes a screen's widgets, in no set order, before the screen's own
    unmount closes its session: a live update's timer that fired in between raised
    NoMatches from the status line (the machine list's options gone, the logs pane still
    there, which was all the old guard looked at), logged as an error at every exit under
    load. With every pane there, a missing widget is still raised."""
    from smb_tui.tui.screens.dashboard import DashboardScreen
    from smb_tui.tui.widgets.machine_list import MachineOptions

    app, _ = app_on_new_instance(server, "counter", "taken-down")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        view = screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.snapshot.can_send, what="the instance")
        session = screen.session
        assert session is not None
        show = screen._show_session

        def faulty(snapshot: Any) -> None:
            screen.query_one("#no-such-pane")

        screen._show_session = faulty  # type: ignore[method-assign]
        with pytest.raises(NoMatches):
            session.set_live("reconnecting")
        screen._show_session = show  # type: ignore[method-assign]
        assert session.snapshot.live == "reconnecting"
        await screen.query_one(MachineOptions).remove()  # as the teardown may, first
        # Live again: the status line asks whether a pane failed (the machine list's
        # options among them), which raised NoMatches.
        session.set_live("live")
        assert session.snapshot.live == "live"

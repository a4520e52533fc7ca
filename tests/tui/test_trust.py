"""What an on-call engineer must be able to trust: panes that say what they show, one
keyboard model, and a layout that works in a small terminal. Real app, real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Button, Input, OptionList, Static, TextArea

from smb_tui.local.server import ServerThread
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.screens.modals import (
    ChooseVersion,
    HelpScreen,
    NewInstance,
    TransitionDetail,
    TypedConfirm,
)
from smb_tui.tui.widgets.instance_list import InstanceList, InstanceOptions
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.machine_list import MachineList
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, free_port, start_server, unique
from tests.http_log import logged_requests
from tests.tui.helpers import app_on_new_instance, make_app, wait_for


def text_of(widget: Any) -> str:
    return str(widget.render())


def status(app: Any) -> str:
    return text_of(app.screen.query_one("#composer-status", Static))


def summary(app: Any) -> str:
    return text_of(app.screen.query_one("#instance-summary", Static))


def context_text(app: Any) -> str:
    tree = app.screen.query_one("#context-tree")
    lines: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            lines.append(str(child.label))
            walk(child)

    walk(tree.root)
    return "\n".join(lines)


async def ready(pilot: Any) -> DashboardScreen:
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.snapshot.phase == "ready", what="the instance")
    await wait_for(pilot, lambda: screen.snapshot.live == "live", what="live updates")
    await wait_for(pilot, lambda: screen.snapshot.admin is not None, what="the admin view")
    return screen  # type: ignore[no-any-return]


# -- panes say truthfully what they show -------------------------------------------------


async def test_the_full_context_follows_live_updates(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "scratch", "trust-full")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.snapshot.admin is not None, what="the admin view")
        await pilot.press("a")
        await wait_for(pilot, lambda: "context (full)" in context_text(app))
        with client(server) as http:
            event = {"type": "put", "key": "colour", "value": "green"}
            assert http.post(f"/machines/scratch/i/{slug}/events", json={"event": event}).is_success
        await wait_for(pilot, lambda: '"green"' in context_text(app), what="the full context")
        assert "re-reading" not in context_text(app)


async def test_a_send_costs_one_post_and_one_history_page(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "counter", "trust-cost")
    instance = f"/machines/counter/i/{slug}"
    with logged_requests() as sent:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await ready(pilot)
            history = screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 1 and not history.loading_page)
            await pilot.pause(0.3)  # the opening reads, done
            before = list(sent.sent)
            screen.query_one("#event-type", Input).value = "increment"
            await pilot.press("4", "enter")
            await wait_for(pilot, lambda: history.row_count == 2, what="the new row")
            await pilot.pause(0.5)  # the live update of the same ts arrives, and is dropped
            assert history.row_count == 2
    after = sent.sent[len(before) :]
    assert sorted(after) == [("GET", f"{instance}/events"), ("POST", f"{instance}/events")], (
        "a send is one POST with no reads of the instance after it, and the new rows come "
        "from one history page"
    )


async def test_a_missing_instance_clears_everything_and_says_so(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        history = screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count > 0)
        await pilot.press("2", "slash", *"no-such-one", "enter")
        await wait_for(pilot, lambda: screen.snapshot.phase == "not-found", what="the 404")
        await pilot.pause(0.2)
        assert "no such instance: counter/no-such-one" in summary(app)
        assert screen.snapshot.state is None and context_text(app) == ""
        assert history.row_count == 0
        assert "no such instance" in history.render_line(0).text
        assert "no such instance" in app.sub_title and "offline" not in app.sub_title
        # Its live updates end too (the server refuses them): nothing shown is old data,
        # so no pane says "stale" (the lists are as current as ever).
        await wait_for(pilot, lambda: screen.snapshot.live == "offline", what="live ended")
        await pilot.pause(0.2)
        borders = [str(screen.query_one(p).border_subtitle) for p in ("#machines", "#instances")]
        assert borders == ["", ""] and history.stale_note == "", borders


async def test_reconnect_re_reads_every_pane(tmp_path: Path) -> None:
    port = free_port()
    running = start_server(tmp_path, busy_history=20, port=port)
    app = make_app(running, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        running.stop()
        await wait_for(pilot, lambda: "reconnecting" in app.sub_title, what="reconnecting")
        await pilot.press("r")  # every pane tries, and says it failed
        options = screen.query_one(InstanceOptions)
        await wait_for(pilot, lambda: options.failed, what="the instance list's error")
        await wait_for(pilot, lambda: screen.snapshot.phase == "stale", what="stale")
        assert "stale" in summary(app) and "live" not in app.sub_title
        screen.query_one("#event-type", Input).value = "increment"
        await pilot.press("4", "enter")
        await wait_for(
            pilot,
            lambda: "✖ increment" in status(app),
            what=lambda: f"the failed send: {status(app)}",
        )
        assert "could not reach" in status(app), status(app)
        running = start_server(tmp_path, busy_history=20, port=port, key=running.key)
        try:
            await wait_for(
                pilot,
                lambda: app.sub_title.endswith("● live"),
                timeout=20,
                what=lambda: f"live, not {app.sub_title}",
            )
            await wait_for(pilot, lambda: "small" in [i.slug for i in options.items])
            assert not options.failed
            assert screen.snapshot.phase == "ready" and "stale" not in summary(app)
            assert "could not reach" not in status(app), "an old message outlived the outage"
        finally:
            running.stop()


async def test_a_send_that_did_not_settle_says_so(server: ServerThread) -> None:
    app, _ = app_on_new_instance(server, "scratch", "trust-slow")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        screen.query_one("#event-type", Input).value = "work"
        screen.query_one("#payload", TextArea).text = '{"seconds": 30}'
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "time-out" in status(app), timeout=15, what="the answer")
        text = status(app)
        assert "✔" not in text and "settled in" not in text
        assert "running services were stopped" in text and "before the next event" in text


async def test_an_event_that_matches_nothing_says_so(server: ServerThread) -> None:
    app, _ = app_on_new_instance(server, "counter", "trust-nothing")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        screen.query_one("#event-type", Input).value = "no_such_event"
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "no transition matched" in status(app), what="the answer")
        assert "✔" not in status(app)


async def test_a_refusal_names_the_auth_context(server: ServerThread) -> None:
    app = make_app(server, "document", "handbook")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        screen.query_one("#event-type", Input).value = "submit"
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "Refused" in status(app))
        assert """allowWrite refused 'submit' for {"sub": "demo-user"}""" in status(app)


# -- one keyboard model ------------------------------------------------------------------


async def test_a_slug_opened_from_the_filter_moves_focus_to_the_instance(
    server: ServerThread,
) -> None:
    app = make_app(server, "checkout")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        options = screen.query_one(InstanceOptions)
        await wait_for(pilot, lambda: "cart-alice" in [i.slug for i in options.items])
        await pilot.press("2", "slash", *"cart-alice", "enter", "4")
        assert screen.query_one(InstanceList).filter_box.value == "cart-alice"
        assert screen.query_one("#event-type", Input).has_focus
        await wait_for(pilot, lambda: screen.snapshot.instance == "cart-alice")


async def test_no_single_letter_fires_on_a_button_or_in_a_box(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await pilot.press("4", "tab", "tab", "tab")  # event type, payload, send as, Send
        assert isinstance(screen.focused, Button)
        footer_actions = {
            b.action for _, b, enabled, _ in screen.active_bindings.values() if enabled
        }
        assert "toggle_context" not in footer_actions and "delete_instance" not in footer_actions
        await pilot.press("a", "n", "u", "U", "D", "P", "x", "q")
        assert app.is_running and app.screen is screen
        assert not screen.query_one(InstanceView).full_context


async def test_lists_take_j_k_g_and_capital_g(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6)
        options = machines.options
        await pilot.press("j", "j")
        assert options.highlighted == 2
        await pilot.press("k")
        assert options.highlighted == 1
        await pilot.press("G")
        assert options.highlighted == options.option_count - 1
        await pilot.press("g")
        assert options.highlighted == 0


async def test_slash_filters_machines_and_escape_clears(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        machines = app.screen.query_one(MachineList)
        await wait_for(pilot, lambda: len(machines.items) >= 6)
        await pilot.press("slash", *"traf")
        assert machines.options.option_count == 1
        await pilot.press("escape")
        assert machines.options.option_count == len(machines.items)
        assert machines.options.has_focus
        await pilot.press("slash", *"zzz")
        assert "no match" in str(machines.options.get_option_at_index(0).prompt)


async def test_escape_backs_out_one_level_at_a_time(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await pilot.press("5", "enter")
        assert isinstance(app.screen, TransitionDetail)
        await pilot.press("escape")
        assert screen.query_one(TransitionHistory).has_focus
        await pilot.press("escape")
        assert screen.query_one("#state-tree").has_focus
        await pilot.press("escape")
        assert screen.query_one(InstanceOptions).has_focus
        await pilot.press("escape")
        assert screen.query_one(MachineList).options.has_focus


async def test_end_goes_to_the_real_start_of_history_in_one_press(tmp_path: Path) -> None:
    with start_server(tmp_path, busy_history=450) as small:
        app = make_app(small, "counter", "busy")
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 100)
            assert "1 / 100+" in str(history.border_subtitle)
            await pilot.press("5", "end")
            progress = history.render_line(history.cursor - history.scroll_offset.y).text
            assert history.at_end or "Loading page" in progress, progress
            await wait_for(pilot, lambda: history.at_end, what="the start of history")
            await pilot.pause(0.2)
            assert history.row_count == 450
            assert history.cursor == history.row_count  # on the "start of history" line
            bottom = history.cursor - history.scroll_offset.y
            assert "start of history" in history.render_line(bottom).text
            assert "450 / 450" in str(history.border_subtitle)
            await pilot.press("up")
            assert history.cursor == history.row_count - 1


async def test_send_as_is_labelled_said_and_cleared(server: ServerThread) -> None:
    slug = unique("trust-as")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug})
    app = make_app(server, "counter", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        screen.query_one("#event-type", Input).value = "increment"
        screen.query_one("#send-as", Input).value = '{"sub": "bob"}'
        await pilot.pause()
        assert screen.query_one("#send-as-label").has_class("-filled")
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: "settled" in status(app))
        assert 'as {"sub": "bob"}' in status(app)
        screen.open_instance("small")
        await pilot.pause()
        assert screen.query_one("#send-as", Input).value == ""


async def test_each_machine_keeps_its_own_instance_filter(server: ServerThread) -> None:
    app = make_app(server, "counter")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        instances = screen.query_one(InstanceList)
        await wait_for(pilot, lambda: "small" in [i.slug for i in instances.options.items])
        await pilot.press("2", "slash", *"zzz-none")
        await pilot.pause()
        assert "no match" in str(instances.options.get_option_at_index(0).prompt)
        screen.choose_machine("checkout")
        await wait_for(pilot, lambda: "cart-bob" in [i.slug for i in instances.options.items])
        assert instances.filter_box.value == ""
        screen.choose_machine("counter")
        assert instances.filter_box.value == "zzz-none"


async def test_the_new_instance_dialog_keeps_what_was_typed(server: ServerThread) -> None:
    app = make_app(server, "scratch")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(InstanceOptions).items is not None)
        await pilot.press("escape", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewInstance))
        dialog = app.screen
        assert "Enter" in "".join(text_of(s) for s in dialog.query(Static))
        options = dialog.query_one(OptionList)
        assert "current" in str(options.get_option_at_index(options.highlighted or 0).prompt)
        await pilot.press(*"half-typed", "tab")
        assert dialog.query_one("#new-context", TextArea).has_focus
        await pilot.press("tab")
        assert not dialog.query_one("#new-context", TextArea).has_focus, "Tab stayed in the box"
        await pilot.press("escape")
        assert app.screen is dialog, "one Esc threw typed text away"
        await pilot.press("escape")
        assert app.screen is not dialog


async def test_the_version_picker_marks_current_and_newest(server: ServerThread) -> None:
    app = make_app(server, "order", "order-2001")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.snapshot.admin is not None)
        await pilot.press("escape", "U")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ChooseVersion),
            what=lambda: f"the picker, not {app.screen}",
        )
        prompts = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert any("current" in p and "newest" in p for p in prompts), prompts
        assert any("this instance runs it" in p for p in prompts), prompts
        picker = app.screen.query_one(OptionList)
        picker.highlighted = next(i for i, p in enumerate(prompts) if p.startswith("v2"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirm))
        title = text_of(app.screen.query_one(".title", Static))
        assert "to version v2 at its next event" in title, title
        await pilot.press("escape")


# -- small terminals ---------------------------------------------------------------------


async def test_at_80x24_titles_keep_their_numbers_and_z_zooms(server: ServerThread) -> None:
    app = make_app(server, "checkout", "cart-alice")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        for number, selector in enumerate(
            ["#machines", "#instances", "#instance", "#composer", "#history"], 1
        ):
            assert str(screen.query_one(selector).border_title).startswith(f"[{number}]")
        await pilot.press("3", "z")
        view = screen.query_one(InstanceView)
        assert screen.maximized is view and view.size.height >= 20
        await pilot.press("escape")
        assert screen.maximized is None


async def test_the_footer_shows_whole_entries_only(server: ServerThread) -> None:
    app = make_app(server, "checkout", "cart-alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.pause(0.3)
        footer = app.screen._compositor.render_full_update().strips[-1]
        line = "".join(strip.text for strip in footer).rstrip()
        shown = [d for _, b, _, _ in app.screen.active_bindings.values() if (d := b.description)]
        for word in line.replace("▏", " ").split():
            if word[0].isalpha() and len(word) > 2:
                assert any(word in d for d in shown), f"a cut footer entry: {word!r} in {line!r}"


async def test_help_fits_at_160x50_and_the_palette_names_keys(server: ServerThread) -> None:
    app = make_app(server, "counter", "small")
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        assert app.screen.query_one(VerticalScroll).max_scroll_y == 0
        await pilot.press("escape")
        commands = list(app.get_system_commands(app.screen))
        keys = {c.help for c in commands}
        assert "key: ?" in keys and "key: question_mark" not in keys


async def test_slash_filters_the_history_by_event_type(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "counter", "trust-filter")
    with client(server) as http:
        for event in ["increment", "decrement", "increment", "reset"]:
            http.post(f"/machines/counter/i/{slug}/events", json={"event": event})
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        history = screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 5 and history.at_end)
        await pilot.press("5", "slash", *"incr")
        await pilot.pause()
        assert [history.row(i).event_type for i in range(history.row_count)] == ["increment"] * 2
        assert "2 of 5" in str(history.border_subtitle)
        with client(server) as http:
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "decrement"})
        await wait_for(pilot, lambda: history.row_count == 3, what="the new match")
        await pilot.press("escape")
        assert history.row_count == 7 and history.has_focus

"""Finding out what happened to an instance: what each transition changed, and sending
an event from the history again."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, RichLog, Select, Static, TextArea

from smb_tui.api.auth import StaticToken
from smb_tui.api.models import Page, Transition
from smb_tui.config import Connection
from smb_tui.core.describe import short_event, state_change
from smb_tui.core.history_buffer import HistoryBuffer, Row
from smb_tui.local.auth import sign_key_token
from smb_tui.local.clock import ManualClock
from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.screens.modals import (
    ExportHistory,
    JumpToTime,
    QueryIndex,
    StateGraphScreen,
    TransitionDetail,
    VersionsScreen,
)
from smb_tui.tui.widgets import logs_view
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.logs_view import LogsView
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, start_server, unique
from tests.http_log import logged_requests
from tests.tui.helpers import app_on_new_instance, make_app, wait_for


def test_xstate_delayed_events_read_short_in_the_history() -> None:
    assert short_event("xstate.after(8000)#traffic-light.green") == "after 8s green"
    assert short_event("xstate.after(300)#blink.on") == "after 300ms on"
    assert short_event("xstate.after(1500)#m.a.b") == "after 1.5s a.b"
    assert short_event("increment") == "increment"


def test_a_state_change_names_the_leaves_left_and_entered() -> None:
    assert state_change("yellow", "red").summary() == "yellow → red"
    assert not state_change("red", "red").changed
    assert state_change("red", "red").summary() == "no change"
    before = {"shopping": {"checkout": {"payment": "unpaid", "shipping": "no_address"}}}
    after = {"shopping": {"checkout": {"payment": "paid", "shipping": "no_address"}}}
    assert state_change(before, after).summary() == "payment: unpaid → paid"
    both = {"shopping": {"checkout": {"payment": "paid", "shipping": "has_address"}}}
    change = state_change(before, both)
    assert change.left == (
        "shopping.checkout.payment.unpaid",
        "shopping.checkout.shipping.no_address",
    )
    assert change.summary() == (
        "checkout: +payment.paid +shipping.has_address -payment.unpaid -shipping.no_address"
    )
    assert state_change("a", {"b": "c"}).summary() == "a → b.c"


def test_a_narrow_column_gets_the_state_entered_rather_than_a_cut_name() -> None:
    before = {"shopping": {"checkout": {"payment": "unpaid", "shipping": "no_address"}}}
    after = {"shopping": {"checkout": {"payment": "paid", "shipping": "no_address"}}}
    change = state_change(before, after)
    assert change.summary(40) == "payment: unpaid → paid"
    assert change.summary(16) == "unpaid → paid"
    assert change.summary(8) == "→ paid"
    both = {"shopping": {"checkout": {"payment": "paid", "shipping": "has_address"}}}
    assert state_change(before, both).summary(30) == "→ payment.paid shipping.has_address"


async def test_each_row_says_what_it_changed_and_marks_events_that_changed_nothing(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "order", "what-changed")
    with client(server) as http:
        for event in ("ship", "pay", "ship"):  # the first ship: not while awaiting payment
            http.post(f"/machines/order/i/{slug}/events", json={"event": event})
    async with app.run_test(size=(120, 36)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 4 and history.at_end, what="rows")
        lines = [history.render_line(y).text for y in range(4)]
        assert "paid → shipped" in lines[0]
        assert "awaiting_payment → paid" in lines[1]
        assert "= awaiting_payment" in lines[2]  # changed nothing
        assert "→ awaiting_payment" in lines[3] and "xstate.init" in lines[3]

        history.focus()
        await pilot.press("down", "enter")  # the `pay` row
        await wait_for(pilot, lambda: isinstance(app.screen, TransitionDetail), what="detail")
        detail = app.screen
        assert detail.query_one("#detail-before", TextArea).text == '"awaiting_payment"'
        assert detail.query_one("#detail-state", TextArea).text == '"paid"'
        change = detail.query_one("#detail-change", Static).render()
        assert "left awaiting_payment" in str(change) and "entered paid" in str(change)

        await pilot.press("e")  # to the composer: filled in, not sent
        await wait_for(pilot, lambda: not isinstance(app.screen, TransitionDetail))
        event_type = app.screen.query_one("#event-type", Input)
        assert event_type.value == "pay"
        assert event_type.has_focus
        await pilot.pause(0.5)
        with client(server) as http:
            rows = http.get(f"/machines/order/i/{slug}/events").json()["transitions"]
        assert len(rows) == 4  # nothing was sent


async def test_a_new_transition_shows_what_it_changed(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "order", "live-change")
    async with app.run_test(size=(120, 36)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 1, what="the first row")
        assert history.change(0) is None  # xstate.init: nothing before it
        with client(server) as http:
            http.post(f"/machines/order/i/{slug}/events", json={"event": "pay"})
        await wait_for(pilot, lambda: history.row_count == 2, what="the new row")
        change = history.change(0)
        assert change is not None and change.summary() == "awaiting_payment → paid"


def test_the_state_before_is_the_older_row_whatever_the_filter() -> None:
    """Under a filter the row shown next is not the one before: the buffer looks past it,
    across new rows at the top and fetched pages below."""

    def transition(kind: str, state: str) -> Transition:
        return Transition.model_validate(
            {"createdAt": "2026-11-23T10:00:00Z", "event": {"type": kind}, "state": state}
        )

    buffer = HistoryBuffer()
    page = [transition("b", "s3"), transition("a", "s2"), transition("a", "s1")]
    buffer.add_page(Page[Transition](items=page, cursor="next"))
    buffer.add_newest([Row.of(transition("a", "s5")), Row.of(transition("b", "s4"))])
    # newest first: a/s5, b/s4, b/s3, a/s2, a/s1 (and older pages still to come)
    assert [buffer.row(i).state for i in range(5)] == ["s5", "s4", "s3", "s2", "s1"]
    assert [getattr(buffer.before(i), "state", None) for i in range(5)] == [
        "s4",
        "s3",
        "s2",
        "s1",
        None,
    ]
    buffer.set_filter("a")
    assert [buffer.row(i).state for i in range(3)] == ["s5", "s2", "s1"]
    assert [getattr(buffer.before(i), "state", None) for i in range(3)] == ["s4", "s1", None]
    buffer.set_filter("b")
    assert [getattr(buffer.before(i), "state", None) for i in range(2)] == ["s3", "s2"]


def log_texts(app: SmbTui) -> list[str]:
    return [strip.text for strip in app.screen.query_one("#logs-log", RichLog).lines]


async def test_the_logs_pane_keeps_a_bound_of_text_however_long_the_lines_printed(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines are what machine code printed: each is shown to SHOWN_CHARS (the rest said),
    and the lines kept for a filter are the newest that hold MAX_TEXT characters (50,000
    lines of 64,000 characters were gigabytes, followed for an hour)."""
    monkeypatch.setattr(logs_view, "MAX_TEXT", 1_000_000)
    app, slug = app_on_new_instance(server, "scratch", "logs-long")
    with client(server) as http:
        for n in range(4):  # 10 lines of 60,000 characters each: 2,400,000 in all
            shout = {"type": "shout", "lines": 10, "size": 60_000, "n": n}
            http.post(f"/machines/scratch/i/{slug}/events", json={"event": shout})
        last = {"type": "put", "key": "last", "value": 1}
        http.post(f"/machines/scratch/i/{slug}/events", json={"event": last})
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        await pilot.press("l")
        await wait_for(pilot, lambda: logs.lines == 41, what="every line read")
        texts = log_texts(app)
        assert len(texts) == 41 and "stored last" in texts[-1]
        assert all(len(text) < logs_view.SHOWN_CHARS + 80 for text in texts)
        assert "… [59,000 more characters]" in texts[0]
        kept = list(logs._entries)
        assert sum(len(entry.log) for entry in kept) <= 1_000_000
        assert len(kept) == 17 and kept[-1].log.startswith("stored last")  # the newest
        await pilot.press("slash", *"last")  # a filter chooses among those kept
        await wait_for(pilot, lambda: len(log_texts(app)) == 1, what="the one match")


async def test_logs_pane_shows_stdout_and_stderr_apart_and_hostile_text_made_safe(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "scratch", "logs-pane")
    hostile = "\x1b[31mX\u202e[b]bold[/b]"
    with client(server) as http:
        put = {"type": "put", "key": hostile, "value": 1}
        http.post(f"/machines/scratch/i/{slug}/events", json={"event": put})
        failed = http.post(f"/machines/scratch/i/{slug}/events", json={"event": "try_unguarded"})
        assert failed.status_code == 500
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        await wait_for(pilot, lambda: app.screen.query_one(TransitionHistory).row_count >= 2)
        await pilot.press("l")
        assert logs.display and not app.screen.query_one(TransitionHistory).display
        await wait_for(pilot, lambda: logs.lines == 2, what="two log entries")
        texts = log_texts(app)
        assert "out stored \\u001b[31mX\\u202e[b]bold[/b]" in texts[0]
        assert " err Traceback" in texts[1]
        assert any("ValueError: the quote service said no" in line for line in texts[2:])
        assert not any(char in "".join(texts) for char in "\x1b\u202e")
        status = str(app.screen.query_one("#logs-status", Static).render())
        assert f"scratch/{slug}" in status and "2 lines" in status

        await pilot.press("s")  # the whole machine: each line names its instance
        await wait_for(
            pilot,
            lambda: "all of scratch" in str(app.screen.query_one("#logs-status", Static).render()),
            what="machine scope",
        )
        await wait_for(pilot, lambda: not logs.loading and logs.lines >= 2)
        assert any(f"out {slug} stored" in line for line in log_texts(app))

        await pilot.press("l")  # and back to the history
        assert app.screen.query_one(TransitionHistory).display and not logs.display


async def test_following_logs_adds_lines_and_keeps_the_view_where_the_user_left_it(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "scratch", "logs-follow")

    def put(http: Any, key: int) -> None:
        event = {"type": "put", "key": key, "value": 1}
        http.post(f"/machines/scratch/i/{slug}/events", json={"event": event})

    with client(server) as http:
        for key in range(80):
            put(http, key)
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        await pilot.press("6")
        await wait_for(pilot, lambda: logs.lines == 80, what="80 lines")
        log = app.screen.query_one("#logs-log", RichLog)
        await wait_for(pilot, lambda: log.is_vertical_scroll_end and log.max_scroll_y > 0)
        await pilot.press("f")
        assert logs.following
        await pilot.press("home")  # up, to read the first lines
        await wait_for(pilot, lambda: log.scroll_y == 0, what="the top")
        with client(server) as http:
            for key in range(80, 83):
                put(http, key)
        await wait_for(pilot, lambda: logs.lines == 83, timeout=10, what="followed lines")
        assert log.scroll_y == 0  # the view did not move
        assert log_texts(app)[-1].endswith("stored 82")
        await pilot.press("end")
        await wait_for(pilot, lambda: log.is_vertical_scroll_end)
        with client(server) as http:
            put(http, 83)
        await wait_for(pilot, lambda: logs.lines == 84, timeout=10, what="one more")
        await wait_for(pilot, lambda: log.is_vertical_scroll_end, what="still at the bottom")


async def test_logs_refused_say_why_and_the_title_says_logs_failed(
    server: ServerThread,
) -> None:
    """An anonymous session may not read logs (no logs.read scope): said, not blank."""
    token = sign_key_token(
        server.key,
        {"sid": "s", "did": "d", "auth": "anonymous"},
        scope="anonymous",
        org="org_local",
    )
    app = SmbTui(
        Connection(server.base_url, StaticToken(token), None, "anon", False),
        machine="order",
        instance="order-2001",
    )
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        await pilot.press("l")
        await wait_for(pilot, lambda: logs.error is not None, what="the refusal")
        status = str(app.screen.query_one("#logs-status", Static).render())
        assert "logs.read" in status and "r retries" in status
        await wait_for(pilot, lambda: "logs failed" in app.sub_title, what="the title")


async def test_search_finds_a_payload_50_pages_deep_and_escape_keeps_the_row(
    tmp_path: Path,
) -> None:
    with start_server(tmp_path, page_size=10, busy_history=10) as small:
        with client(small) as http:
            http.post("/machines/counter", json={"slug": "haystack"})
            send = "/machines/counter/i/haystack/events"
            http.post(send, json={"event": {"type": "increment", "note": "the-needle"}})
            for _ in range(500):
                http.post(send, json={"event": {"type": "increment", "by": 1}})
        app = make_app(small, "counter", "haystack")
        async with app.run_test(size=(120, 36)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 10, what="the first pages")
            await pilot.press("5", "slash", *"NEEDLE", "enter")  # any case
            await wait_for(
                pilot,
                lambda: history.at_end and not history.searching,
                timeout=30,
                what="the search to reach the start",
            )
            assert len(history.requested_cursors) == 51  # 502 transitions, 10 a page
            assert history.row_count == 1
            assert "the-needle" in history.row(0).payload
            assert "1 of 502" in str(history.border_subtitle)
            assert "1 match among 502 transitions" in history.render_line(1).text
            assert history.has_focus
            await pilot.press("escape")  # the filter goes; the cursor stays on the row
            assert history.row_count == 502
            assert history.cursor == 500 and "the-needle" in history.row(500).payload
            assert history.scroll_offset.y <= 500 < history.scroll_offset.y + history.size.height
            await pilot.press("g", "n")  # n: the next match of the last search
            assert history.cursor == 500
            await pilot.press("N")  # none newer: said, the cursor stays
            assert history.cursor == 500
            await pilot.press("slash", *"no-such-text", "enter")
            await wait_for(pilot, lambda: history.row_count == 0 and not history.searching)
            assert "start of history: no match among 502 transitions" in (
                history.render_line(0).text
            )


async def test_t_jumps_to_a_time_across_pages_and_a_bad_time_moves_nothing(
    tmp_path: Path,
) -> None:
    start = 1_795_000_000.0  # 2026-11-18T...Z
    clock = ManualClock(start)
    with start_server(tmp_path, page_size=10, busy_history=10, clock=clock) as small:
        with client(small) as http:
            http.post("/machines/counter", json={"slug": "timeline"})
            for minute in range(1, 101):
                clock.set(start + minute * 60)
                http.post(
                    "/machines/counter/i/timeline/events",
                    json={"event": {"type": "increment", "minute": minute}},
                )
        app = make_app(small, "counter", "timeline")
        async with app.run_test(size=(120, 36)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 10, what="the first pages")
            await pilot.press("5", "t", *"yesterday-ish", "enter")
            assert isinstance(app.screen, JumpToTime)
            error = str(app.screen.query_one("#jump-error", Static).render())
            assert "not a time" in error and "nothing moved" in error
            assert history.cursor == 0
            target = datetime.fromtimestamp(start + 30 * 60 + 30, UTC).strftime("%Y-%m-%d %H:%M:%S")
            app.screen.query_one("#jump-input", Input).value = target
            await pilot.press("enter")
            await wait_for(pilot, lambda: history.cursor == 70, timeout=15, what="the jump")
            assert history.row(70).event == {"type": "increment", "minute": 30}
            assert 8 <= len(history.requested_cursors) < 11  # only the pages it needed
            assert not history.at_end
            assert history.scroll_offset.y <= 70 < history.scroll_offset.y + history.size.height

            await pilot.press("u")  # the time column in UTC
            stamp = datetime.fromtimestamp(start + 30 * 60, UTC).strftime("%m-%d %H:%M:%S")
            row_line = 70 - history.scroll_offset.y
            assert stamp in history.render_line(row_line).text


async def map_lines(pilot: Any) -> list[str]:
    """The state map's lines, once its screen is pushed and composed (the map is made
    by a worker, and a screen pushed is composed after)."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, StateGraphScreen)
            and bool(app.screen.query("#graph-lines Static"))
        ),
        what="the map's lines",
    )
    return [str(static.render()) for static in app.screen.query("#graph-lines Static")]


async def test_the_state_map_counts_states_and_events_and_marks_loops(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "traffic-light", "map")
    with client(server) as http:
        for event in ["timer", "timer", "timer", "repair", "timer", "fault", "repair"]:
            http.post(f"/machines/traffic-light/i/{slug}/events", json={"event": event})
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 8 and history.at_end)
        await pilot.press("5", "m")
        lines = await map_lines(pilot)
        # green -> yellow -> red -> green; repair on green stays; yellow -> fault -> blinking
        # -> repair -> red: now red.
        assert lines[0].startswith("● red  (now)  2 times")
        text = "\n".join(lines)
        assert "○ green  3 times" in text  # the start, back from red, and repair stayed
        assert "    repair x1 ↺ stays" in text
        assert "    timer x2 → yellow" in text
        assert "    fault x1 → blinking" in text
        header = str(app.screen.query_one("Static").render())
        assert "traffic-light" in header
        await pilot.press("escape")
        assert not isinstance(app.screen, StateGraphScreen)


async def test_a_long_history_is_mapped_off_the_ui_thread_and_keys_go_on(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ROWS_AT_ONCE rows (a million took 1.5 s) the map is made on a thread: the
    history still takes keys meanwhile, and the map opens when it is made. (The real
    map, held until the key is in, here past 2 rows, so that no timing decides.)"""
    from smb_tui.tui import apart
    from smb_tui.tui.screens import dashboard
    from tests.tui.helpers import held_until_set

    go = held_until_set(monkeypatch, dashboard, "graph_of")
    monkeypatch.setattr(apart, "ROWS_AT_ONCE", 2)
    app, slug = app_on_new_instance(server, "traffic-light", "map-apart")
    with client(server) as http:
        for event in ["timer", "timer", "timer"]:
            http.post(f"/machines/traffic-light/i/{slug}/events", json={"event": event})
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 4 and history.at_end)
        await pilot.press("5", "m", "j")
        assert history.cursor == 1 and not go.is_set()  # the key taken while it maps
        assert any("Mapping 4 transitions" in n.message for n in app._notifications)
        go.set()
        lines = await map_lines(pilot)
        assert lines[0].startswith("● green  (now)  2 times"), lines[0]


async def test_versions_are_listed_with_what_the_instance_runs_now_and_next(
    server: ServerThread,
) -> None:
    slug = unique("versions")
    with client(server) as http:
        listed = http.get("/machines/order/v").json()["versions"]
        v2, v1 = listed[0]["id"], listed[1]["id"]
        http.post("/machines/order", json={"slug": slug, "machineVersionId": v1})
        http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": v2})
    app = make_app(server, "order", slug)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.admin is not None, what="the admin view")
        await pilot.press("5", "V")
        await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen), what="versions")
        options = app.screen.query_one("#versions", OptionList)
        versions = app.screen.versions  # the options, in order (no id from server text)
        texts = {
            versions[i].id: str(options.get_option_at_index(i).prompt)
            for i in range(options.option_count)
        }
        assert "current" in texts[v2] and "it runs this from its next event" in texts[v2]
        assert "this instance runs it" in texts[v1] and "current" not in texts[v1]
        await pilot.press("escape")
        assert not isinstance(app.screen, VersionsScreen)


async def test_e_exports_the_whole_history_from_what_is_loaded_when_complete(
    server: ServerThread, tmp_path: Path
) -> None:
    app, slug = app_on_new_instance(server, "order", "export-key")
    with client(server) as http:
        http.post(f"/machines/order/i/{slug}/events", json={"event": "pay"})
        expected = http.get(f"/machines/order/i/{slug}/events").json()["transitions"]
    target = tmp_path / "order.jsonl"
    with logged_requests() as sent:
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 2 and history.at_end)
            asked = sent.count("GET", f"/i/{slug}/events")
            await pilot.press("5", "E")
            await wait_for(pilot, lambda: isinstance(app.screen, ExportHistory), what="the form")
            app.screen.query_one("#export-path", Input).value = str(tmp_path / "no" / "such.csv")
            await pilot.press("enter")
            assert "nothing written" in str(app.screen.query_one("#export-error", Static).render())
            app.screen.query_one("#export-path", Input).value = str(target)
            await pilot.click("#oldest")
            await wait_for(pilot, target.exists, what="the file")
            lines = [json.loads(line) for line in target.read_text().splitlines()]
            assert lines == list(reversed(expected))  # oldest first
            assert (
                sent.count("GET", f"/i/{slug}/events") == asked
            )  # from the rows it held, no new requests


async def test_an_index_query_lists_matching_instances_and_enter_opens_one(
    server: ServerThread,
) -> None:
    slugs = [unique("ranked") for _ in range(3)]
    with client(server) as http:
        for rank, slug in enumerate(slugs, 1_000_001):
            http.post("/machines/scratch", json={"slug": slug})
            event = {"type": "put", "key": "rank", "value": rank}
            http.post(f"/machines/scratch/i/{slug}/events", json={"event": event})
    app = make_app(server, "scratch")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("I")
        await wait_for(pilot, lambda: isinstance(app.screen, QueryIndex), what="the form")
        form = app.screen
        form.query_one("#query-op", Select).value = "gte"
        value = form.query_one("#query-value", Input)
        value.focus()
        await pilot.press("enter")  # no value: said, nothing asked
        assert "give a value" in str(form.query_one("#query-error", Static).render())
        value.value = "1000002"
        await pilot.press("enter")
        results = form.query_one("#query-results", OptionList)
        await wait_for(pilot, lambda: results.option_count >= 2, what="the matches")
        assert results.option_count == 2
        assert [entry.slug for entry in form.found] == [slugs[1], slugs[2]]
        assert "1000002" in str(results.get_option_at_index(0).prompt)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, QueryIndex))
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None, what="the instance")
        assert f"scratch/{slugs[2]}" in str(app.screen.query_one("#instance").border_title)


async def test_an_event_that_changed_only_the_context_is_not_said_to_change_nothing(
    server: ServerThread,
) -> None:
    from smb_tui.tui.screens.modals import TransitionDetail
    from tests.conftest import client
    from tests.tui.helpers import app_on_new_instance

    app, slug = app_on_new_instance(server, "checkout", "context-only")
    with client(server) as http:
        event = {"type": "add_item", "item": "lamp", "price": 40}
        answer = http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
        assert answer.status_code == 200
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 2, what="the history")
        history.focus()
        history.cursor = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TransitionDetail), what="detail")
        said = str(app.screen.query_one("#detail-change").render())
    assert "changed nothing" not in said
    assert "does not record context" in said


async def test_rows_whose_context_change_the_dashboard_saw_say_what_changed(
    server: ServerThread,
) -> None:
    from smb_tui.tui.screens.modals import TransitionDetail
    from tests.conftest import client
    from tests.tui.helpers import app_on_new_instance

    app, slug = app_on_new_instance(server, "checkout", "context-seen")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 1 and "live" in app.sub_title)
        with client(server) as http:  # another client: seen as live updates
            for item in ("lamp", "desk"):
                event = {"type": "add_item", "item": item, "price": 40}
                answer = http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
                assert answer.status_code == 200
                await wait_for(pilot, lambda i=item: i in history.render_line(0).text)
        await wait_for(pilot, lambda: "~items: [" in history.render_line(0).text, what="the mark")
        assert history.context_mark(history.row(0)) == (
            '~items: ["lamp"] → ["lamp","desk"], ~total: 40 → 80'
        )
        assert "+total=40" in history.render_line(1).text  # the first add_item's
        assert "= shopping.browsing" not in history.render_line(1).text  # not "unchanged"
        # The first transition's context was not seen changing: no mark.
        assert "total" not in history.render_line(2).text
        history.focus()
        history.cursor = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TransitionDetail), what="detail")
        said = str(app.screen.query_one("#detail-change").render())
        assert "state unchanged" in said and "does not record context" not in said
        assert "context, as this dashboard saw it: " in said and "~total: 40 → 80" in said


async def test_slash_filters_the_logs_pane_and_esc_clears_it(server: ServerThread) -> None:
    from textual.widgets import Input

    app, slug = app_on_new_instance(server, "scratch", "logs-filter")
    with client(server) as http:
        for key in ("alpha", "beta", "alphabet"):
            put = {"type": "put", "key": key, "value": 1}
            http.post(f"/machines/scratch/i/{slug}/events", json={"event": put})
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        await wait_for(pilot, lambda: app.screen.query_one(TransitionHistory).row_count >= 4)
        await pilot.press("l")
        await wait_for(pilot, lambda: logs.lines == 3, what="three log entries")
        app.screen.query_one("#logs-log").focus()
        await pilot.press("slash", *"ALPHA")
        assert isinstance(app.focused, Input)
        await wait_for(pilot, lambda: len(log_texts(app)) == 2, what="the two matches")
        assert all("alpha" in line for line in log_texts(app))
        status = str(app.screen.query_one("#logs-status", Static).render())
        assert "2 matches for 'ALPHA' of 3 lines" in status
        await pilot.press("escape")
        assert len(log_texts(app)) == 3 and not logs.filter_text


def test_typing_on_narrows_the_matches_and_deleting_widens_them() -> None:
    def transition(n: int) -> Transition:
        event = {"type": "add", "item": ["apple", "apricot", "banana"][n % 3], "n": n}
        return Transition.model_validate(
            {"createdAt": "2026-11-23T10:00:00Z", "event": event, "state": "open"}
        )

    buffer = HistoryBuffer()
    buffer.add_page(Page[Transition](items=[transition(n) for n in range(30)], cursor="next"))
    found: dict[str, list[int]] = {}
    for text in ["a", "ap", "APR", "apri", "ap", "ban", "", "an"]:
        buffer.set_filter(text)
        found[text] = [buffer.unfiltered_index(i) for i in range(len(buffer))]
        whole = [
            i
            for i in range(buffer.loaded)
            if not text or text.lower() in json.dumps(transition(i).event).lower()
        ]
        assert found[text] == whole, text
    assert len(found["APR"]) == 10 and found["apri"] == found["APR"]
    assert len(found["ap"]) == 20 and len(found[""]) == 30


@pytest.mark.parametrize("seed", range(8))
def test_typing_pages_and_news_under_a_filter_match_a_plain_scan(seed: int) -> None:
    """Typing on looks at the kinds of the matches, not at every match: whatever order
    letters, pages and news come in, what is shown is what a scan of every row finds.
    Rows share kinds (a few events, many times over) and some are each their own."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = [
        {"type": "increment"},
        {"type": "decrement", "by": 2},
        {"type": "decrement", "by": 3},
        {"type": "freeze", "why": "deploy"},
        {"type": "DECLARE", "what": "déjà vu"},
    ]

    def made() -> Transition:
        event = dict(rng.choice(events))
        if rng.random() < 0.3:
            event["n"] = rng.random()  # a kind of its own
        return Transition.model_validate(
            {"createdAt": "2026-12-07T10:00:00Z", "event": event, "state": "counting"}
        )

    buffer = HistoryBuffer()
    words = ["decrement", "declare", "freeze", "increment", "déjà"]
    word, typed, done = rng.choice(words), "", []
    for _ in range(150):
        step = rng.random()
        if step < 0.15:
            buffer.add_page(Page[Transition](items=[made() for _ in range(rng.randrange(8))]))
        elif step < 0.3:
            buffer.add_newest([Row.of(made()) for _ in range(rng.randrange(4))])
        elif step < 0.4 and typed:
            typed = typed[:-1]  # a letter deleted: widened
            buffer.set_filter(typed)
        elif step < 0.45:
            word, typed = rng.choice(words), ""  # cleared, another word to type
            buffer.set_filter(typed)
        elif len(typed) < len(word):
            typed = word[: len(typed) + 1]  # typed on: narrowed
            buffer.set_filter(typed.upper() if rng.random() < 0.2 else typed)
        done.append(typed)
        shown = [buffer.unfiltered_index(i) for i in range(len(buffer))]
        whole = [
            i
            for i in range(buffer.loaded)
            if not typed or typed.lower() in _unfiltered_row(buffer, i).haystack
        ]
        assert shown == whole, (seed, done)


def _unfiltered_row(buffer: HistoryBuffer, index: int) -> Row:
    with_filter = buffer.filter_text
    buffer.filter_text = ""  # (row() as unfiltered, without touching the hits)
    try:
        return buffer.row(index)
    finally:
        buffer.filter_text = with_filter


async def test_the_logs_pane_never_shows_the_previous_instance(server: ServerThread) -> None:
    """Open on one instance's logs, then another: the pane names the new instance at once
    and holds only its lines, whether it was shown or hidden at the switch."""
    app, first = app_on_new_instance(server, "scratch", "logs-first")
    second = unique("logs-second")
    with client(server) as http:
        assert http.post("/machines/scratch", json={"slug": second}).status_code == 200
        for slug, keys in ((first, ("a1", "a2", "a3")), (second, ("b1",))):
            for key in keys:
                put = {"type": "put", "key": key, "value": 1}
                http.post(f"/machines/scratch/i/{slug}/events", json={"event": put})
    async with app.run_test(size=(120, 36)) as pilot:
        logs = app.screen.query_one(LogsView)
        status = app.screen.query_one("#logs-status", Static)
        await pilot.press("l")
        await wait_for(pilot, lambda: logs.lines == 3, what="the first instance's lines")

        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.open_instance(second)  # shown: switched at once
        assert f"scratch/{second}" in str(status.render())
        assert f"scratch/{first}" not in str(status.render())
        await wait_for(pilot, lambda: not logs.loading and logs.lines == 1, what="one line")
        assert ["b1" in line for line in log_texts(app)] == [True]

        await pilot.press("l")  # hidden, then back to the first instance
        screen.open_instance(first)
        await pilot.press("l")
        assert f"scratch/{first}" in str(status.render())
        assert not any("b1" in line for line in log_texts(app))
        await wait_for(pilot, lambda: not logs.loading and logs.lines == 3, what="three lines")
        assert [line.split()[-1] for line in log_texts(app)] == ["a1", "a2", "a3"]


async def test_the_filter_shown_in_the_border_is_what_was_typed_not_markup(
    server: ServerThread,
) -> None:
    """A border title is markup unless given as Text: '[red]zz' showed as a red 'zz'."""
    from rich.text import Text

    app, _ = app_on_new_instance(server, "counter", "filter-markup")
    async with app.run_test(size=(120, 36)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 1, what="the history")
        await pilot.press("5", "slash", *"[red]zz", "enter")
        await wait_for(pilot, lambda: not history.searching, what="the filter")
        shown = Text.from_markup(history.border_subtitle or "").plain  # as drawn
        assert "filter '[red]zz': 0 of 1" in shown, shown

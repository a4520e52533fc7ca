"""The drawn statechart (`M`, and `smb-tui chart`): from the local server's definitions of
both engines, lit by the instance, following it live, stepping through its history."""

from __future__ import annotations

import builtins
import json
import re
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from smb_tui import cli
from smb_tui.core.chart import from_definition, from_history, mermaid
from smb_tui.core.chart_draw import Options, draw
from smb_tui.local.auth import sign_key_token
from smb_tui.local.demo.checkout import Checkout
from smb_tui.local.server import ServerThread
from smb_tui.tui.screens.modals import ChartScreen
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client
from tests.tui.helpers import app_on_new_instance, wait_for


def definition(server: ServerThread, machine: str) -> Any:
    with client(server) as http:
        answer = http.get(f"/machines/{machine}/v/current/definition")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_mermaid_chart_of_checkout_has_every_state_and_transition(
    server: ServerThread,
) -> None:
    chart = from_definition(definition(server, "checkout"))
    text = mermaid(chart)
    for state in Checkout.states_map.values():
        assert f'state "{state.id}" as {state.id}' in text
    edges = set(re.findall(r"^    (\w+) --> (\w+) : (.+)$", text, re.MULTILINE))
    expected = {
        ("browsing", "browsing", "add_item"),
        ("browsing", "checkout", "start_checkout [has_items]"),
        ("checkout", "browsing", "back_to_cart"),
        ("unpaid", "paid", "pay [covers_total]"),
        ("no_address", "address_set", "set_address"),
        ("address_set", "no_address", "change_address"),
        ("shopping", "placed", "place_order [ready_to_place]"),
    }
    assert edges == expected
    assert "[*] --> shopping" in text and "placed --> [*]" in text
    assert "\n            --\n" in text  # payment and shipping: parallel regions


def test_an_xstate_module_s_chart_names_its_delays_invocations_and_guards(
    server: ServerThread,
) -> None:
    chart = from_definition(definition(server, "ticket"))
    labels = {(t.source, t.target, t.label()) for t in chart.transitions}
    assert ("ticket.resolved", "ticket.closed", "after 2min") in labels
    assert ("ticket.open", "ticket.inProgress", "assign [namesSomeone]") in labels
    assert ("ticket.triage", "ticket.open", "done.invoke.triage") in labels
    assert chart.by_id["ticket.triage"].invokes == ["triage"]
    assert chart.by_id["ticket.closed"].type == "final"
    drawn = draw(chart).text()
    for name in ("triage", "open", "inProgress", "resolved", "closed", "after 2min"):
        assert name in drawn


def test_a_python_chart_s_history_states_are_drawn_with_the_transitions_into_them(
    server: ServerThread,
) -> None:
    chart = from_definition(definition(server, "player"))
    assert chart.by_id["shallow"].type == chart.by_id["deep"].type == "history"
    assert chart.by_id["shallow"].parent is chart.by_id["on"]
    edges = {(t.source, t.target, t.label()) for t in chart.transitions}
    assert ("off", "shallow", "power_on") in edges
    assert ("off", "deep", "power_on_as_left") in edges
    drawn = draw(chart).text()
    assert "H shallow" in drawn and "H deep" in drawn and "power_on_as_left" in drawn


def test_hostile_names_are_drawn_as_text_and_a_chart_too_large_is_refused() -> None:
    evil = {"id": "m", "root": {"id": "m", "key": "m", "type": "compound", "initial": "a",
            "states": [{"id": "a", "key": "\x1b[2J[bold]a\u202e", "transitions": [
                {"event": "go\x07", "targets": ["a"]}]}]}}  # fmt: skip
    drawn = draw(from_definition(evil)).text()
    assert "\x1b" not in drawn and "\x07" not in drawn and "\u202e" not in drawn
    deep: dict[str, Any] = {"id": "x", "key": "x", "states": []}
    node = deep
    for level in range(40):
        child: dict[str, Any] = {"id": f"s{level}", "key": f"s{level}", "states": []}
        node["states"].append(child)
        node = child
    from smb_tui.core.chart import ChartTooLarge

    with pytest.raises(ChartTooLarge):
        from_definition({"id": "x", "root": deep})


def test_a_history_draws_the_states_and_events_it_shows() -> None:
    chart = from_history(
        [("xstate.init", "idle"), ("go", "busy"), ("done", "idle"), ("go", "busy")]
    )
    assert chart.source == "history"
    assert sorted(chart.by_id) == ["busy", "idle"]
    assert {(t.source, t.target, t.event) for t in chart.transitions} == {
        ("idle", "busy", "go"),
        ("busy", "idle", "done"),
    }
    assert "go" in draw(chart, Options(active={"busy"})).text()


async def open_chart(pilot: Pilot[Any]) -> ChartScreen:
    history = pilot.app.screen.query_one(TransitionHistory)
    await wait_for(pilot, lambda: history.row_count > 0 and not history.loading_page)
    history.focus()
    await pilot.press("M")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChartScreen), what="the chart")
    screen = pilot.app.screen
    assert isinstance(screen, ChartScreen)
    await wait_for(pilot, lambda: hasattr(screen, "drawing"))
    return screen


def styles_at(screen: ChartScreen, state_id: str) -> set[str]:
    """The styles the drawing gives the top border of a state's box."""
    x, y, w, _ = screen.drawing.boxes[state_id]
    return {style for start, end, style in screen.drawing.spans[y] if start < x + w and end > x}


async def test_the_chart_lights_the_instance_and_follows_a_sent_event(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "checkout", "chart")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_chart(pilot)
        assert "from the server" in str(screen.note)
        assert styles_at(screen, "browsing") == {"active"}
        assert styles_at(screen, "placed") == {"box"}
        with client(server) as http:  # another client moves the instance
            for event in [{"type": "add_item", "item": "lamp", "price": 3}, "start_checkout"]:
                sent = http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
                assert sent.status_code == 200
        await wait_for(
            pilot, lambda: "active" in styles_at(screen, "unpaid"), what="the live update"
        )
        assert styles_at(screen, "browsing") == {"box"}
        assert "active" in styles_at(screen, "checkout")


async def test_stepping_through_the_history_highlights_each_row_s_transition(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "checkout", "chart")
    with client(server) as http:
        for event in [{"type": "add_item", "item": "a", "price": 1}, "start_checkout"]:
            http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_chart(pilot)
        history = app.screen_stack[-2].query_one(TransitionHistory)
        await wait_for(pilot, lambda: len(screen.rows) == 3 or history.row_count == 3)
        await pilot.press("less_than_sign")  # the newest row: start_checkout
        hot_lines = [
            screen.drawing.lines[y][start:end]
            for y, spans in enumerate(screen.drawing.spans)
            for start, end, style in spans
            if style == "hot"
        ]
        assert any("start_checkout" in text for text in hot_lines)
        assert "active" in styles_at(screen, "checkout")
        await pilot.press("less_than_sign")  # add_item: a self-transition, in its box
        assert "active" in styles_at(screen, "browsing")
        assert any(
            "add_item" in screen.drawing.lines[y][start:end]
            for y, spans in enumerate(screen.drawing.spans)
            for start, end, style in spans
            if style == "hot"
        )


def test_smb_tui_chart_prints_mermaid_dot_and_text(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign_key_token(server.key, {"sub": "owner"})
    flags = ["--api-url", server.base_url, "--token", token]
    assert cli.main([*flags, "chart", "checkout", "--format", "mermaid"]) == 0
    assert capsys.readouterr().out == mermaid(from_definition(definition(server, "checkout")))
    out = tmp_path / "ticket.dot"
    assert cli.main([*flags, "chart", "ticket", "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph statechart {")
    assert cli.main([*flags, "chart", "checkout"]) == 0
    assert "place_order [ready_to_place]" in capsys.readouterr().out
    assert cli.main([*flags, "chart", "nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "flag", "starts"),
    [
        ("door.svg", [], "<svg"),
        ("door.mmd", [], "stateDiagram-v2"),
        ("door.gv", [], "digraph statechart {"),
        ("door.JSON", [], '{"id"'),
        ("door.txt", [], "┌─"),  # text: as the dashboard draws it
        ("door.svg", ["--format", "dot"], "digraph statechart {"),  # the flag wins
    ],
)
def test_smb_tui_chart_takes_its_format_from_the_file_name_unless_told(
    server: ServerThread, tmp_path: Path, name: str, flag: list[str], starts: str
) -> None:
    token = sign_key_token(server.key, {"sub": "owner"})
    out = tmp_path / name
    command = ["--api-url", server.base_url, "--token", token, "chart", "checkout", "-o", str(out)]
    assert cli.main([*command, *flag]) == 0
    assert out.read_text().lstrip().startswith(starts), out.read_text()[:80]


def test_smb_tui_chart_of_a_bundle_as_json_and_svg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.local.test_replay import SWITCH, module

    bundle = module(tmp_path, "switch", SWITCH.format(kicked="broken"))
    assert cli.main(["chart", "switch", "--bundle", str(bundle), "--format", "json"]) == 0
    definition = json.loads(capsys.readouterr().out)
    assert [s["key"] for s in definition["root"]["states"]] == ["off", "on", "broken"]
    out = tmp_path / "switch.svg"
    assert (
        cli.main(["chart", "switch", "--bundle", str(bundle), "--format", "svg", "-o", str(out)])
        == 0
    )
    picture = out.read_text()
    assert picture.startswith("<svg") and "broken" in picture
    assert cli.main(["chart", "switch", "--bundle", str(tmp_path / "none.js")]) == 1
    assert "none.js" in capsys.readouterr().err


async def test_where_the_server_gives_no_definition_the_named_bundle_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State Backed answers the definition route 404: the chart comes from the bundle the
    profile (or --bundle) names, evaluated by `smb-tui chart` in a process of its own."""
    from dataclasses import replace

    from smb_tui.api.client import StateBackedClient
    from smb_tui.api.errors import NotFound
    from smb_tui.tui.app import SmbTui
    from tests.conftest import start_server
    from tests.local.test_replay import SWITCH, module
    from tests.tui.helpers import connection

    async def no_definitions(self: object, machine: str, version: str = "current") -> None:
        raise NotFound(404, "Not Found", None)  # as State Backed answers the route

    monkeypatch.setattr(StateBackedClient, "get_definition", no_definitions)
    bundle = module(tmp_path / "machines", "switch", SWITCH.format(kicked="broken"))
    with start_server(tmp_path, machines_dir=tmp_path / "machines", demo=False) as server:
        with client(server) as http:
            http.post("/machines/switch", json={"slug": "s1"})
            http.post("/machines/switch/i/s1/events", json={"event": "kick"})
        named = replace(connection(server), bundles={"switch": str(bundle)})
        app = SmbTui(named, machine="switch", instance="s1")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_chart(pilot)
            assert "The definition in" in screen.note and "gives no definitions" in screen.note
            assert styles_at(screen, "switch.broken") == {"active"}
        # And with no bundle named: drawn from the history, saying so; from many rows
        # (here past 1, held until a key is in) on a thread, the keys taken meanwhile.
        from smb_tui.core import chart as chart_module
        from smb_tui.tui import apart
        from tests.tui.helpers import held_until_set

        go = held_until_set(monkeypatch, chart_module, "from_history")
        monkeypatch.setattr(apart, "ROWS_AT_ONCE", 1)
        app = SmbTui(connection(server), machine="switch", instance="s1")
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 2 and not history.loading_page)
            history.focus()
            await pilot.press("M", "j")
            assert history.cursor == 1 and not go.is_set()
            go.set()
            await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), what="chart")
            assert app.screen.note.startswith("Drawn from the 2 transitions loaded")


async def test_following_an_instance_with_no_chart_open_loads_no_dialog(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each change of the instance asks whether a chart follows it: that question must
    not import the dialogs and the graph layout (100 ms, at the first instance opened,
    among its first pages)."""
    imported: list[str] = []
    real_import = builtins.__import__

    def noting(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("smb_tui.tui.screens.modals"):
            imported.append(name)
        return real_import(name, *args, **kwargs)

    app, slug = app_on_new_instance(server, "checkout", "no-chart")
    async with app.run_test(size=(160, 50)) as pilot:
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.snapshot.state is not None, what="the state")
        monkeypatch.setattr(builtins, "__import__", noting)
        with client(server) as http:  # another client moves the instance: followed live
            for event in [{"type": "add_item", "item": "lamp", "price": 3}, "start_checkout"]:
                sent = http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
                assert sent.status_code == 200
        await wait_for(
            pilot,
            lambda: "unpaid" in json.dumps(screen.snapshot.state.state),
            what="the live update",
        )
        monkeypatch.setattr(builtins, "__import__", real_import)
    assert imported == []


RING = '''
"""A ring of {n} states, each with a skip: a chart too large to draw on the UI thread."""
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion

states = [State(initial=(i == 0), name=f"s{{i}}") for i in range({n})]
attrs = {{f"s{{i}}": state for i, state in enumerate(states)}}
for i in range({n}):
    attrs[f"next_{{i}}"] = states[i].to(states[(i + 1) % {n}], event="next")
    attrs[f"skip_{{i}}"] = states[i].to(states[(i + 7) % {n}], event="skip")
Ring = type("Ring", (StateChart,), attrs)
machine = MachineDefinition(slug="ring", versions=[MachineVersion("v1", Ring)])
'''


async def test_a_large_chart_is_drawn_off_the_ui_thread_and_keys_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawing 399 states takes seconds: done on the UI thread, M, each Tab and each
    live update froze the dashboard that long. The screen opens at once saying it is
    drawing; keys pressed meanwhile are taken, and the last one's drawing is shown.
    (The real drawing, held until the keys are in, so that no timing decides.)"""
    from smb_tui.tui.screens.modals import chart as chart_screen
    from tests.conftest import start_server
    from tests.tui.helpers import held_until_set, make_app

    go = held_until_set(monkeypatch, chart_screen, "draw")
    (tmp_path / "machines").mkdir()
    (tmp_path / "machines" / "ring.py").write_text(RING.format(n=100))
    with start_server(tmp_path, machines_dir=tmp_path / "machines", demo=False) as server:
        with client(server) as http:
            http.post("/machines/ring", json={"slug": "r1"})
        app = make_app(server, "ring", "r1")
        async with app.run_test(size=(160, 50)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count > 0 and not history.loading_page)
            history.focus()
            await pilot.press("M")
            await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), what="the chart")
            screen = app.screen
            assert isinstance(screen, ChartScreen)
            said = lambda: str(screen.query_one("#chart-row").render())  # noqa: E731
            assert "drawing 100 states" in said()  # up before its drawing
            await pilot.press("tab", "tab")  # taken while it draws
            assert screen.focus_id == "s1" and not go.is_set()
            go.set()
            await wait_for(pilot, lambda: "drawing" not in said(), timeout=30, what="drawn")
            x, y, w, _ = screen.drawing.boxes["s1"]
            styles = {style for a, b, style in screen.drawing.spans[y] if a < x + w and b > x}
            assert styles == {"focus"}  # the drawing shown is the last one asked for


def test_a_layout_is_made_once_for_drawings_that_differ_only_in_styles(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """grandalf's layout is two thirds of drawing a large chart: a focus, a lit state or a
    highlighted transition changes no box's size, so the layout made for the first
    drawing is used again, and gives the very drawing a fresh layout gives."""
    from smb_tui.core import chart_draw

    made: list[object] = []
    real = chart_draw.SugiyamaLayout

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(chart_draw, "SugiyamaLayout", counted)
    monkeypatch.setattr(chart_draw, "_PLACED", chart_draw._Kept(64))
    chart = from_definition(definition(server, "checkout"))
    first = draw(chart, Options(active={"browsing"}))
    layouts = len(made)
    assert layouts > 0
    focused = draw(chart, Options(active={"unpaid"}, focus="checkout", hot="start_checkout"))
    assert len(made) == layouts  # laid out once
    monkeypatch.setattr(chart_draw, "_PLACED", chart_draw._Kept(64))
    fresh = draw(chart, Options(active={"unpaid"}, focus="checkout", hot="start_checkout"))
    assert len(made) == 2 * layouts
    assert (focused.lines, focused.spans, focused.boxes) == (fresh.lines, fresh.spans, fresh.boxes)
    assert first.boxes == focused.boxes

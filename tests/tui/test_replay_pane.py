"""`R` in the history: the open instance replayed against code, diverging rows marked,
Enter on one shows the recorded and replayed states."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.modals import DivergenceDetail, ReplayAgainst
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, start_server
from tests.local.test_replay import SWITCH, module
from tests.tui.helpers import connection, wait_for


def said(app: SmbTui) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_replay_marks_the_rows_where_the_code_differs(tmp_path: Path) -> None:
    module(tmp_path / "machines", "switch", SWITCH.format(kicked="broken"))
    v2 = module(tmp_path / "v2", "switch", SWITCH.format(kicked="off"))
    with start_server(tmp_path, machines_dir=tmp_path / "machines", demo=False) as server:
        with client(server) as http:
            http.post("/machines/switch", json={"slug": "s1"})
            for event in ["flip", "flip", "kick", "flip", "mend", "flip"]:
                http.post("/machines/switch/i/s1/events", json={"event": event})
        app = SmbTui(connection(server), machine="switch", instance="s1")
        async with app.run_test(size=(140, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 7 and not history.loading_page)
            history.focus()
            # Against the version it ran on (Enter on the empty box: "current", as the
            # box offers): every state agrees, nothing marked.
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, ReplayAgainst))
            assert app.screen.query_one(Input).value == ""
            await pilot.press("enter")
            await wait_for(pilot, lambda: "every state agrees" in said(app), what="agreement")
            assert history.divergences == {}
            # Against v2's bundle (smb-tui replay in a process of its own): 4 rows differ.
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, ReplayAgainst))
            app.screen.query_one(Input).value = str(v2)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "4 diverge" in said(app), timeout=30, what="the marks")
            marked = [
                history.row(i).event_type
                for i in range(history.row_count)
                if history.divergence(history.row(i)) is not None
            ]
            assert marked == ["flip", "mend", "flip", "kick"]  # newest first
            kick = next(i for i in range(7) if history.row(i).event_type == "kick")
            assert history.render_line(kick - history.scroll_offset.y).text.startswith("≠")
            history.cursor = kick
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DivergenceDetail))
            detail = app.screen
            assert isinstance(detail, DivergenceDetail)
            assert (detail.divergence["recorded"], detail.divergence["replayed"]) == (
                "broken",
                "off",
            )


async def test_replay_of_a_missing_bundle_is_refused_in_the_dialog(tmp_path: Path) -> None:
    with start_server(tmp_path) as server:
        app = SmbTui(connection(server), machine="checkout", instance="cart-bob")
        async with app.run_test(size=(140, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count > 0)
            history.focus()
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, ReplayAgainst))
            app.screen.query_one(Input).value = "no/such/bundle.js"
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert isinstance(app.screen, ReplayAgainst)  # still asking, saying why
            # A Python machine's version: the server says why not; nothing marked.
            app.screen.query_one(Input).value = "current"
            await pilot.press("enter")
            await wait_for(pilot, lambda: "Not replayed" in said(app))
            assert "XState" in said(app)
            assert history.divergences == {}

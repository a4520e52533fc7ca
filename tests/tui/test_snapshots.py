"""Snapshots (SVG) of every screen that matters, at 80x24 and 160x50.

Run `pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate change
of look, and check the report it writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from smb_tui.local.clock import ManualClock
from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.logs_view import LogsView
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, start_server
from tests.tui.helpers import make_app, wait_for

FROZEN = 1767225600.0  # 2026-01-01T00:00:00Z: every timestamp the server writes
SIZES = [(60, 20), (80, 24), (120, 40), (160, 50)]


@pytest.fixture(scope="module")
def frozen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = start_server(
        tmp_path_factory.mktemp("frozen"), busy_history=300, clock=ManualClock(FROZEN)
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def frozen_logs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A frozen server of the logs snapshots' own, their lines written as it starts: log
    times are a millisecond each (bumped on a frozen clock), so the times shown must not
    depend on which other tests wrote logs first."""
    running = start_server(
        tmp_path_factory.mktemp("frozen-logs"), busy_history=10, clock=ManualClock(FROZEN)
    )
    with client(running) as http:
        for width, _ in SIZES:  # every size's instance: the list shows them all
            http.post(
                "/machines/order",
                json={"slug": f"logs-{width}", "context": {"public": {"item": "lamp"}}},
            ).raise_for_status()
            http.post(f"/machines/order/i/logs-{width}/events", json={"event": "pay"})
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def five_minutes_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TransitionHistory, "clock", staticmethod(lambda: FROZEN + 300))


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    view = app.screen.query_one(InstanceView)
    history = app.screen.query_one(TransitionHistory)
    await wait_for(
        pilot,
        lambda: (
            view.state is not None
            and view.admin is not None
            and history.row_count > 0
            and not history.loading_page
            and "live" in app.sub_title
        ),
    )
    history.focus()
    await pilot.pause(0.2)


def run(
    steps: Callable[[Pilot[Any]], Awaitable[None]] | None = None,
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        if steps is not None:
            await steps(pilot)
        await pilot.pause(0.2)
        # Focus scrolls the pane into view with an animation (narrow layouts): a
        # loaded machine may still be mid-way after the pause.
        await pilot.wait_for_scheduled_animations()
        # Under load a live update can be shown late, and the header says "behind" until
        # nothing waits (a second later): the picture is of a screen that caught up.
        await wait_for(
            pilot,
            lambda: (
                getattr(pilot.app.screen, "snapshot", None) is None
                or not pilot.app.screen.snapshot.behind
            ),
            timeout=5,
            what="the screen caught up",
        )
        await pilot.pause()

    return before


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]) -> None:
    app = make_app(frozen_server, "checkout", "cart-bob")
    assert snap_compare(app, terminal_size=size, run_before=run())


@pytest.mark.parametrize("size", SIZES)
def test_composer_with_an_error(
    snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]
) -> None:
    async def bad_payload(pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        pilot.app.screen.query_one("#event-type", Input).value = "pay"
        pilot.app.screen.query_one("#payload", TextArea).text = '{"amount": 12,'
        await pilot.press("enter")

    app = make_app(frozen_server, "checkout", "cart-bob")
    assert snap_compare(app, terminal_size=size, run_before=run(bad_payload))


@pytest.mark.parametrize("size", SIZES)
def test_transition_detail(
    snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]
) -> None:
    async def open_detail(pilot: Pilot[Any]) -> None:
        await pilot.press("enter")

    app = make_app(frozen_server, "checkout", "cart-bob")
    assert snap_compare(app, terminal_size=size, run_before=run(open_detail))


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")

    app = make_app(frozen_server, "counter", "busy")
    assert snap_compare(app, terminal_size=size, run_before=run(open_help))


@pytest.mark.parametrize("size", SIZES)
def test_not_connected_screen(
    snap_compare: Any, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The config file's place is shown: the same on every machine that runs the tests.
    monkeypatch.setenv("XDG_CONFIG_HOME", "/etc/xdg-for-the-snapshot")
    app = SmbTui(None, reason="no credentials: pass --token, or --key-id and --secret-file")
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_logs_pane(
    snap_compare: Any,
    frozen_logs_server: ServerThread,
    size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Log lines are stamped with the server's clock, frozen here like everything else."""
    monkeypatch.setattr(LogsView, "clock", staticmethod(lambda: FROZEN + 300))
    slug = f"logs-{size[0]}"

    async def open_logs(pilot: Pilot[Any]) -> None:
        await pilot.press("l")
        logs = pilot.app.screen.query_one(LogsView)
        await wait_for(pilot, lambda: logs.lines == 2 and not logs.loading)

    app = make_app(frozen_logs_server, "order", slug)
    assert snap_compare(app, terminal_size=size, run_before=run(open_logs))


@pytest.mark.parametrize("size", SIZES)
def test_search(snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]) -> None:
    async def search(pilot: Pilot[Any]) -> None:
        await pilot.press("slash", *'"by":3', "enter")
        history = pilot.app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.at_end and not history.searching)

    app = make_app(frozen_server, "counter", "busy")
    assert snap_compare(app, terminal_size=size, run_before=run(search))


@pytest.mark.parametrize("size", SIZES)
def test_state_map(snap_compare: Any, frozen_server: ServerThread, size: tuple[int, int]) -> None:
    async def state_map(pilot: Pilot[Any]) -> None:
        from smb_tui.tui.screens.modals import StateGraphScreen

        await pilot.press("m")  # made by a worker: its screen is awaited, not assumed
        await wait_for(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, StateGraphScreen)
                and bool(pilot.app.screen.query("#graph-lines Static"))
            ),
        )

    app = make_app(frozen_server, "checkout", "cart-bob")
    assert snap_compare(app, terminal_size=size, run_before=run(state_map))


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
@pytest.mark.parametrize(
    ("machine", "instance"), [("checkout", "cart-bob"), ("ticket", "ticket-101")]
)
def test_chart(
    snap_compare: Any,
    frozen_server: ServerThread,
    size: tuple[int, int],
    machine: str,
    instance: str,
) -> None:
    """The drawn statechart (`M`): nested and parallel states (checkout), an XState
    module's delays, invocations and guards (ticket)."""
    from smb_tui.tui.screens.modals import ChartScreen

    async def chart(pilot: Pilot[Any]) -> None:
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChartScreen))

    app = make_app(frozen_server, machine, instance)
    assert snap_compare(app, terminal_size=size, run_before=run(chart))

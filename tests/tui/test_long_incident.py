"""The dashboard left open on a live instance that another client drives: what each
update costs must not grow with the updates seen, and the screen follows the newest state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from textual.widgets._footer import FooterKey

from smb_tui.local.server import ServerThread
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.widgets.event_composer import EventComposer
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.whole_footer import WholeFooter
from tests.tui.helpers import app_on_new_instance, composer_status, make_app, wait_for


def watchers(app: Any) -> int:
    """Reactive watchers held by every node of the app (Textual keeps them per object)."""
    total = 0
    for node in [app, *app.screen.walk_children(with_self=True)]:
        for callbacks in getattr(node, "__watchers", {}).values():
            total += len(callbacks)
    return total


async def drive(
    server: ServerThread, machine: str, slug: str, count: int, senders: int = 4
) -> None:
    """`count` events from another client, as fast as the server takes them."""
    from smb_tui.local.auth import sign_key_token

    token = sign_key_token(server.key, {"sub": "demo-user"})
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as http:
        path = f"/machines/{machine}/i/{slug}/events"

        async def sender(share: int) -> None:
            for _ in range(share):
                answer = await http.post(path, json={"event": {"type": "increment"}})
                assert answer.status_code == 200

        await asyncio.gather(*(sender(count // senders) for _ in range(senders)))


def shown_count(app: Any) -> object:
    snapshot = app.screen.snapshot
    return snapshot.state.public_context.get("count") if snapshot.state else None


async def test_a_thousand_live_updates_leave_the_footer_and_the_watchers_as_they_were(
    server: ServerThread,
) -> None:
    app, slug = app_on_new_instance(server, "counter", "soak")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.live == "live", what="live updates")
        await drive(server, "counter", slug, 20)  # settle what the first updates build
        await wait_for(pilot, lambda: shown_count(app) == 20, what="the first updates")
        await pilot.pause(0.3)
        footer_keys, watching = len(app.screen.query(FooterKey)), watchers(app)
        assert footer_keys > 0 and watching > 0
        await drive(server, "counter", slug, 1000)
        await wait_for(pilot, lambda: shown_count(app) == 1020, timeout=30, what="the newest")
        await pilot.pause(0.3)
        assert len(app.screen.query(FooterKey)) == footer_keys
        assert watchers(app) <= watching


async def test_a_flood_of_updates_shows_the_newest_not_each_in_turn(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "counter", "flood")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.live == "live", what="live updates")
        shown: list[object] = []
        view = screen.query_one(InstanceView)
        original = view.watch_snapshot

        def counting() -> None:
            shown.append(shown_count(app))
            original()

        view.watch_snapshot = counting  # type: ignore[method-assign]
        await drive(server, "counter", slug, 400, senders=8)
        await wait_for(pilot, lambda: shown_count(app) == 400, timeout=30, what="the newest")
        # Each paint of the state pane shows a newer state, and far fewer paints than updates.
        counts = [c for c in shown if isinstance(c, int)]
        assert counts == sorted(counts)
        assert len(counts) < 200
        await wait_for(  # a late update during the flood clears once nothing waits
            pilot,
            lambda: "live" in str(app.sub_title) and "behind" not in str(app.sub_title),
            timeout=3,
            what="live, not behind",
        )


async def test_one_late_update_does_not_say_behind_for_ever(
    server: ServerThread, monkeypatch: Any
) -> None:
    import smb_tui.core.instance_session as sessions

    monkeypatch.setattr(sessions, "BEHIND_SECONDS", 0.0)  # every update counts as late
    app, slug = app_on_new_instance(server, "counter", "late")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.live == "live", what="live updates")
        await drive(server, "counter", slug, 1, senders=1)
        await wait_for(pilot, lambda: shown_count(app) == 1, what="the update")
        await wait_for(
            pilot,
            lambda: not screen.snapshot.behind and "behind" not in str(app.sub_title),
            what="caught up: nothing waits",
        )


async def test_a_worker_that_raises_the_unexpected_leaves_no_pane_waiting(
    server: ServerThread,
) -> None:
    """A bug (here: a send that raises what no client call raises) is said, and the
    composer is ready again instead of 'sending…' for good."""
    from textual.widgets import Input

    app, _ = app_on_new_instance(server, "counter", "bug")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.can_send, what="the instance")
        assert screen.session is not None

        async def broken(*_: object) -> None:
            raise RuntimeError("a bug")

        screen.session.send = broken  # type: ignore[method-assign]
        await pilot.press("4")
        screen.query_one("#event-type", Input).value = "increment"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "a bug" in composer_status(app), what="the failure said")
        assert not screen.query_one(EventComposer).sending


async def test_end_on_a_cold_history_shows_the_start_of_history_and_the_cursor(
    long_server: ServerThread,
) -> None:
    from smb_tui.tui.widgets.transition_history import TransitionHistory
    from tests.tui.helpers import make_app

    app = make_app(long_server, "counter", "busy")  # 10,000 transitions, no cache
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count > 0, what="the first page")
        history.focus()
        await pilot.press("end")
        await wait_for(
            pilot,
            lambda: history.at_end and not history.pager.seeking,
            timeout=60,
            what="the start of history",
        )
        await pilot.pause(0.2)
        assert history.row_count >= 10_000 and history.cursor == history.row_count
        top = history.scroll_offset.y
        assert top <= history.cursor < top + history.size.height  # the marker line, in view
        assert top <= history.row_count - 1  # and the first transition with it


async def test_a_killed_server_makes_every_data_pane_say_stale_within_two_seconds(
    tmp_path: Path,
) -> None:
    from smb_tui.tui.widgets.logs_view import LogsView
    from smb_tui.tui.widgets.transition_history import TransitionHistory
    from tests.conftest import start_server
    from tests.tui.helpers import make_app

    server = await asyncio.to_thread(start_server, tmp_path, busy_history=0)
    app = make_app(server, "counter", "small")
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            # Live, and the state read: with the read still on its way when the server
            # went, the pane rightly says it could not reach it (nothing shown to be stale).
            await wait_for(
                pilot,
                lambda: screen.snapshot.live == "live" and screen.snapshot.phase == "ready",
                what="live updates and the state read",
            )
            await asyncio.to_thread(server.stop)

            def notes() -> dict[str, str]:
                summary = screen.query_one("#instance-summary")
                logs = screen.query_one(LogsView)
                return {
                    "instance": str(summary.render()),
                    "machines": str(screen.query_one("#machines").border_subtitle),
                    "instances": str(screen.query_one("#instances").border_subtitle),
                    "history": str(screen.query_one(TransitionHistory).border_subtitle),
                    "logs": str(logs.query_one("#logs-status").render()),
                    "header": str(app.sub_title),
                }

            await wait_for(
                pilot,
                # "stale since" (live updates lost), or the instance pane's "⚠ stale:" when
                # a read after that failed too and says why.
                lambda: all(
                    "stale since" in note or "⚠ stale:" in note for note in notes().values()
                ),
                timeout=2,
                what=lambda: f"every pane to say stale: {notes()}",
            )
            assert "● live" not in notes()["header"]
    finally:
        server.stop()


async def test_z_zooms_and_unzooms_and_the_footer_offers_only_what_can_run(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen

        def offered() -> set[str]:
            return {key.key for key in app.screen.query(FooterKey)}

        # The footer's first keys come with the first bindings update: on a loaded
        # machine later than a fixed half second (CI once saw none yet).
        await wait_for(pilot, lambda: "question_mark" in offered(), what="the footer's keys")
        await pilot.pause(0.2)
        assert not offered() & {"a", "c", "x", "D", "P", "U", "n", "V", "I"}  # nothing open
        assert "question_mark" in offered()
        screen.query_one("#machine-options").focus()
        await pilot.press("z")
        assert screen.maximized is not None
        await pilot.press("z")
        assert screen.maximized is None


async def test_the_footer_is_rebuilt_only_when_its_keys_change(server: ServerThread) -> None:
    """A rebuild mounts every key anew (10-30 ms): opening an instance asked for several
    that showed the same keys. Asked again with nothing changed, it is left as it is; a
    change (an instance opened offers its keys) still shows."""
    app = make_app(server, "counter")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(
            pilot,
            lambda: any(key.key == "question_mark" for key in screen.query(FooterKey)),
            what="the footer's first keys",
        )
        await pilot.pause(0.3)
        footer = screen.query_one(WholeFooter)
        rebuilt: list[int] = []
        recompose = footer.recompose

        async def counted() -> None:
            rebuilt.append(1)
            await recompose()

        footer.recompose = counted  # type: ignore[method-assign]
        keys = {key.key for key in screen.query(FooterKey)}
        for _ in range(5):
            screen.refresh_bindings()
            await pilot.pause()
        assert rebuilt == [] and {key.key for key in screen.query(FooterKey)} == keys
        assert "a" not in keys  # nothing open: nothing to send
        screen.open_instance("busy")
        await wait_for(pilot, lambda: screen.snapshot.can_send, what="the instance")
        await pilot.pause(0.3)
        assert rebuilt and "a" in {key.key for key in screen.query(FooterKey)}
        rebuilt.clear()
        screen.refresh_bindings()
        await pilot.pause()
        assert rebuilt == []


async def test_down_and_enter_flip_through_instances_with_a_fresh_composer_each(
    server: ServerThread,
) -> None:
    from textual.widgets import Input

    from smb_tui.tui.widgets.instance_list import InstanceList, InstanceOptions
    from tests.tui.helpers import make_app

    app = make_app(server, "counter")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        options = screen.query_one(InstanceOptions)
        await wait_for(pilot, lambda: len(options.items) >= 2, what="the instances")
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        first = options.id_at(0)
        await wait_for(pilot, lambda: screen.snapshot.instance == first, what="the first")
        assert isinstance(app.focused, InstanceOptions)  # Enter left the focus in the list
        screen.query_one("#event-type", Input).value = "meant_for_the_first"
        await pilot.press("down", "enter")
        second = options.id_at(1)
        await wait_for(pilot, lambda: screen.snapshot.instance == second, what="the second")
        assert isinstance(app.focused, InstanceOptions)  # still in the list
        assert screen.query_one("#event-type", Input).value == ""
        assert screen.query_one(InstanceList).options is options


async def test_below_100_columns_the_lists_give_way_to_the_instance(server: ServerThread) -> None:
    app, _ = app_on_new_instance(server, "counter", "narrow")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.can_send, what="the instance")
        left, right = screen.query_one("#left"), screen.query_one("#right")
        await pilot.press("5")  # the history: the instance's panes, full width
        await pilot.pause(0.1)
        assert left.region.width == 0 and right.region.width == 80
        await pilot.press("2")  # the instances: the lists, full width
        await pilot.pause(0.1)
        assert left.region.width == 80 and right.region.width == 0


async def test_the_composer_tabs_in_order_and_enter_in_the_payload_sends(
    server: ServerThread,
) -> None:
    from textual.widgets import Button, Input, TextArea

    app, _ = app_on_new_instance(server, "counter", "composer-keys")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.can_send, what="the instance")
        await pilot.press("4", *"increment")
        order = []
        for _ in range(3):
            await pilot.press("tab")
            order.append(app.focused.id if app.focused else None)
        assert order == ["payload", "send-as", "send"]
        await pilot.press("shift+tab", "shift+tab")
        assert isinstance(app.focused, TextArea)
        await pilot.press(*'{"by": 3}', "enter")
        await wait_for(
            pilot,
            lambda: (
                (screen.snapshot.state is not None)
                and screen.snapshot.state.public_context.get("count") == 3
            ),
            what="the send",
        )
        assert "\n" not in screen.query_one("#payload", TextArea).text
        assert isinstance(screen.query_one("#send"), Button)
        assert screen.query_one("#event-type", Input).value == "increment"

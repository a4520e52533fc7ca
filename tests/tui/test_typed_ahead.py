"""Keys that arrive together (a burst over SSH, a fast typist, typing ahead of a slow
machine) act in the order they were typed: Ctrl+S sends what was typed before it."""

from __future__ import annotations

from textual import events
from textual.keys import _character_to_key
from textual.widgets import Input, TextArea

from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.modals import NewInstance
from smb_tui.tui.widgets.instance_list import InstanceOptions
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, unique
from tests.tui.helpers import app_on_new_instance, composer_status, make_app, wait_for


def all_at_once(app: SmbTui, text: str, *keys: str) -> None:
    """`text`, then `keys`, handed to the app in one go, as a terminal's read returns
    them; nothing waits for one to be handled before the next arrives (Pilot's `press`
    does)."""
    assert app._driver is not None
    for key, character in [
        *((c if c.isalnum() else _character_to_key(c), c) for c in text),
        *((k, None) for k in keys),
    ]:
        app._driver.send_message(events.Key(key, character))


async def test_ctrl_s_sends_the_payload_typed_just_before_it(server: ServerThread) -> None:
    app, slug = app_on_new_instance(server, "counter", "typed-ahead")
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count == 1)
        await pilot.press("4")
        assert app.screen.query_one("#event-type", Input).has_focus
        all_at_once(app, "increment", "tab")
        await wait_for(pilot, lambda: app.screen.query_one("#payload", TextArea).has_focus)
        all_at_once(app, '{"by": 5}', "ctrl+s")
        await wait_for(pilot, lambda: "settled" in composer_status(app), what="the send")
        assert "count=5" in composer_status(app), composer_status(app)
    with client(server) as http:
        events_sent = http.get(f"/machines/counter/i/{slug}/events").json()["transitions"]
    assert events_sent[0]["event"] == {"type": "increment", "by": 5}


async def test_ctrl_s_creates_the_instance_named_just_before_it(server: ServerThread) -> None:
    slug = unique("typed-ahead-new")
    app = make_app(server, "scratch")
    async with app.run_test(size=(120, 40)) as pilot:
        options = app.screen.query_one(InstanceOptions)
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: options.items is not None and not options._loading)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewInstance))
        assert app.screen.query_one("#new-slug", Input).has_focus
        all_at_once(app, slug, "ctrl+s")
        await wait_for(pilot, lambda: view.snapshot.instance == slug, what="the new instance")
    with client(server) as http:
        assert http.get(f"/machines/scratch/i/{slug}").status_code == 200

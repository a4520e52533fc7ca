"""Try an event on a copy, never on production: `F` copies the open instance (state, full
context, version) into a local server, and the copy says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, history, start_server, unique
from tests.tui.helpers import connection, static_text, wait_for


def instance_with_history(server: ServerThread) -> str:
    slug = unique("cart")
    with client(server) as http:
        assert http.post("/machines/checkout", json={"slug": slug}).status_code == 200
        for event in [
            {"type": "add_item", "item": "lamp", "price": 30},
            "start_checkout",
            {"type": "pay", "amount": 30, "card": "4111111111111111"},
        ]:
            sent = http.post(f"/machines/checkout/i/{slug}/events", json={"event": event})
            assert sent.status_code == 200
    return slug


@pytest.mark.parametrize(("machine", "engine"), [("checkout", "python"), ("ticket", "xstate")])
def test_a_copy_has_the_state_and_context_and_events_to_it_change_nothing_there(
    server: ServerThread, tmp_path: Path, machine: str, engine: str
) -> None:
    with client(server) as http:
        slug = unique("orig")
        assert http.post(f"/machines/{machine}", json={"slug": slug}).status_code == 200
        original = http.get(f"/machines/{machine}/i/{slug}/admin").json()
        before = history(http, machine, slug)
    with start_server(tmp_path) as other, client(other) as there:
        made = there.post(
            f"/machines/{machine}/i/copy-1/copy",
            json={
                "state": original["state"],
                "context": original["context"],
                "machineVersionId": original["machineVersion"]["id"],
                "copiedFrom": f"{machine}/{slug}",
            },
        )
        assert made.status_code == 200, made.text
        copy = there.get(f"/machines/{machine}/i/copy-1/admin").json()
        assert (copy["state"], copy["context"]) == (original["state"], original["context"])
        [first] = history(there, machine, "copy-1")
        assert first["event"] == {"type": "smb-tui.copy", "from": f"{machine}/{slug}"}
        event = "comment" if engine == "xstate" else {"type": "add_item", "item": "x"}
        assert there.post(f"/machines/{machine}/i/copy-1/events", json={"event": event}).is_success
        assert len(history(there, machine, "copy-1")) == 2
    with client(server) as http:
        assert history(http, machine, slug) == before  # the original never saw it


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"state": "nowhere", "context": {}}, 400, "not a state of this version"),
        ({"state": {"shopping": "nowhere"}, "context": {}}, 400, "not a state of this version"),
        ({"state": "placed", "context": [1]}, 400, "context"),
        ({"state": "placed", "context": {}, "machineVersionId": "mv_nope"}, 404, "deploy"),
    ],
)
def test_a_copy_of_a_state_that_is_not_there_is_refused_and_nothing_is_made(
    server: ServerThread, body: dict[str, object], status: int, says: str
) -> None:
    slug = unique("bad-copy")
    with client(server) as http:
        answer = http.post(f"/machines/checkout/i/{slug}/copy", json=body)
        assert answer.status_code == status, answer.text
        assert says in answer.text
        assert http.get(f"/machines/checkout/i/{slug}").status_code == 404
        twice = {"state": "placed", "context": {}}
        assert http.post(f"/machines/checkout/i/{slug}/copy", json=twice).status_code == 200
        assert http.post(f"/machines/checkout/i/{slug}/copy", json=twice).status_code == 409


async def test_f_copies_the_instance_into_another_local_server_and_says_it_is_a_copy(
    server: ServerThread, tmp_path: Path
) -> None:
    slug = instance_with_history(server)
    with client(server) as http:
        original = http.get(f"/machines/checkout/i/{slug}/admin").json()
        before = history(http, "checkout", slug)
    with start_server(tmp_path) as other:
        app = SmbTui(
            connection(server), machine="checkout", instance=slug, copy_to=connection(other)
        )
        async with app.run_test(size=(140, 40)) as pilot:
            view = app.screen.query_one(InstanceView)
            await wait_for(pilot, lambda: view.state is not None, what="the original")
            await pilot.press("F")
            await wait_for(
                pilot,
                lambda: len(app.screen_stack) == 3 and bool(app.screen.query(InstanceView)),
                what="the copy's dashboard",
            )
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            banner = screen.query_one("#copy-banner", Static)
            assert banner.display
            said = static_text(banner)
            assert said.startswith("COPY of checkout/") and "never reach the original" in said
            assert other.base_url in said
            copy_view = screen.query_one(InstanceView)
            await wait_for(pilot, lambda: copy_view.state is not None, what="the copy")
            # Send an event to the copy through its own composer.
            await pilot.press("4")
            screen.query_one("#event-type").value = "set_address"  # type: ignore[attr-defined]
            screen.query_one("#payload").text = '{"address": "1 Test St"}'  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await wait_for(
                pilot,
                lambda: "address_set" in str(copy_view.state.state if copy_view.state else ""),
                what="the copy moved",
            )
            screen.query_one(TransitionHistory).focus()  # out of the composer's text
            await pilot.press("B")  # back to the original
            await wait_for(pilot, lambda: len(app.screen_stack) == 2)
        with client(other) as there:
            [copy_slug] = [
                i["slug"]
                for i in there.get("/machines/checkout/i").json()["instances"]
                if i["slug"].startswith(f"{slug}-copy-")
            ]
            copy = there.get(f"/machines/checkout/i/{copy_slug}/admin").json()
            # The full context (card_last4 is not public), and what the event added.
            assert copy["context"] == {**original["context"], "address": "1 Test St"}
            assert "card_last4" in copy["context"]
    with client(server) as http:
        assert history(http, "checkout", slug) == before
        assert http.get(f"/machines/checkout/i/{slug}/admin").json()["state"] == original["state"]


async def test_on_a_local_server_f_copies_in_place_and_b_comes_back_to_the_original(
    server: ServerThread,
) -> None:
    slug = instance_with_history(server)
    app = SmbTui(connection(server), machine="checkout", instance=slug)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.snapshot.state is not None, what="the original")
        assert not screen.check_action("leave_copy", ()), "B offered on an original"
        screen.query_one(TransitionHistory).focus()
        await pilot.press("F")
        await wait_for(
            pilot, lambda: screen.snapshot.instance == f"{slug}-copy-1", what="the copy, in place"
        )
        assert len(app.screen_stack) == 2  # the same dashboard: the copy is on its server
        assert screen.query_one("#copy-banner", Static).display
        assert screen.check_action("leave_copy", ())
        await pilot.press("B")
        await wait_for(pilot, lambda: screen.snapshot.instance == slug, what="the original")
        assert not screen.query_one("#copy-banner", Static).display
        assert len(app.screen_stack) == 2


async def test_f_without_a_local_server_says_how_to_have_one(server: ServerThread) -> None:
    from smb_tui.api.auth import KeyCredentials
    from smb_tui.config import Connection

    slug = instance_with_history(server)
    remote = Connection(
        server.base_url.replace("127.0.0.1", "localhost.invalid"),
        KeyCredentials(server.key.key_id, server.key.secret, {"sub": "x"}),
        None,
        "prod",
        can_act_as=True,
    )
    app = SmbTui(connection(server), machine="checkout", instance=slug)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.screen.query_one(InstanceView)
        await wait_for(pilot, lambda: view.state is not None)
        app.screen.connection = remote  # type: ignore[attr-defined]  # as if on production
        await pilot.press("F")
        await pilot.pause(0.2)
        said = " ".join(str(n.message) for n in app._notifications)
        assert "--copy-to" in said
        assert len(app.screen_stack) == 2


async def test_where_the_local_server_lacks_the_code_f_asks_for_the_bundle_and_deploys_it(
    tmp_path: Path,
) -> None:
    from smb_tui.tui.screens.modals import DeployVersion
    from tests.local.test_replay import SWITCH, module

    bundle = module(tmp_path / "machines", "switch", SWITCH.format(kicked="broken"))
    (tmp_path / "empty").mkdir()
    with (
        start_server(tmp_path / "a", machines_dir=tmp_path / "machines", demo=False) as source,
        start_server(tmp_path / "b", machines_dir=tmp_path / "empty", demo=False) as other,
    ):
        with client(source) as http:
            http.post("/machines/switch", json={"slug": "s1"})
            http.post("/machines/switch/i/s1/events", json={"event": "flip"})
        app = SmbTui(connection(source), machine="switch", instance="s1", copy_to=connection(other))
        async with app.run_test(size=(140, 40)) as pilot:
            view = app.screen.query_one(InstanceView)
            await wait_for(pilot, lambda: view.state is not None)
            await pilot.press("F")
            await wait_for(pilot, lambda: isinstance(app.screen, DeployVersion), what="asked")
            app.screen.query_one("#deploy-path", Input).value = str(bundle)
            await pilot.press("ctrl+s")
            await wait_for(
                pilot,
                lambda: len(app.screen_stack) == 3 and bool(app.screen.query(InstanceView)),
                what="the copy",
            )
            copy_view = app.screen.query_one(InstanceView)
            await wait_for(pilot, lambda: copy_view.state is not None)
            assert copy_view.state is not None and copy_view.state.state == "on"
        with client(other) as there:
            assert there.get("/machines/switch/i/s1-copy-1").json()["state"] == "on"

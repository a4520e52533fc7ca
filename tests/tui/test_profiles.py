"""Ctrl+O switches profiles without a restart (as k9s's `:ctx`): the dashboard opens anew
on the chosen profile's server, and only the profile counts (not the variables the app
started with)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList

from smb_tui.config import Profile, resolve
from smb_tui.tui.app import SmbTui
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.screens.modals import ChooseProfile
from smb_tui.tui.widgets.instance_list import InstanceOptions
from smb_tui.tui.widgets.machine_list import MachineList
from tests.conftest import client, start_server, unique
from tests.tui.helpers import wait_for


def profile_text(name: str, server: Any) -> str:
    return (
        f'[profiles."{name}"]\n'
        f'api_url = "{server.base_url}"\n'
        f'key_id = "{server.key.key_id}"\n'
        f'secret = "{server.key.secret}"\n'
        'auth_context = "{\\"sub\\": \\"demo-user\\"}"\n'
    )


async def test_ctrl_o_switches_to_another_profiles_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with start_server(tmp_path / "a") as first, start_server(tmp_path / "b") as second:
        config = tmp_path / "config" / "smb-tui" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(profile_text("staging", first) + profile_text("prod east", second))
        os.chmod(config, 0o600)
        only_there = unique("east")
        with client(second) as http:
            assert http.post("/machines/scratch", json={"slug": only_there}).status_code == 200
        # The app started on staging; a variable that named another API must not follow
        # into the switch (it named the first connection).
        app = SmbTui(resolve(Profile(), "staging"), machine="scratch")
        monkeypatch.setenv("STATEBACKED_API_URL", "http://127.0.0.1:9")
        async with app.run_test(size=(120, 40)) as pilot:
            options = app.screen.query_one(InstanceOptions)
            await wait_for(pilot, lambda: options.settled, what="staging's instances")
            assert only_there not in [item.slug for item in options.items]
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, ChooseProfile), what="profiles")
            listed = [name for name, _ in app.screen.profiles]  # type: ignore[attr-defined]
            assert listed == ["prod east", "staging", "local"]
            chooser = app.screen.query_one(OptionList)
            assert chooser.highlighted == 1  # the one in use
            chooser.highlighted = 0
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="back")
            screen: Any = app.screen
            assert screen.client.base_url == second.base_url
            assert app.connection is not None and app.connection.profile == "prod east"
            # Choose the machine on the new server: its instances are that server's.
            screen.post_message(MachineList.Chosen("scratch"))
            options = app.screen.query_one(InstanceOptions)
            await wait_for(
                pilot,
                lambda: only_there in [item.slug for item in options.items],
                what="prod east's instance",
            )
            assert any("Profile prod east" in n.message for n in app._notifications)


async def test_a_profile_that_cannot_connect_is_said_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with start_server(tmp_path / "a") as first:
        config = tmp_path / "config" / "smb-tui" / "config.toml"
        config.parent.mkdir(parents=True)
        broken = '[profiles."half"]\napi_url = "http://127.0.0.1:9"\nkey_id = "sbk_x"\n'
        # A setting of the wrong kind: that profile cannot be used; the others can.
        wrong = '[profiles."wrong kind"]\napi_url = 3\n'
        config.write_text(profile_text("staging", first) + broken + wrong)
        os.chmod(config, 0o600)
        app = SmbTui(resolve(Profile(), "staging"), machine="scratch")
        async with app.run_test(size=(120, 40)) as pilot:
            before = app.screen
            for index, name, why in [
                (0, "half", "key id and a secret"),  # a key id, no secret
                (2, "wrong kind", "api_url must be a string in quotes, not 3"),
            ]:
                await pilot.press("ctrl+o")
                await wait_for(pilot, lambda: isinstance(app.screen, ChooseProfile), what="list")
                listed = dict(app.screen.profiles)  # type: ignore[attr-defined]
                assert listed["wrong kind"] == "✖ config.toml has it wrong"
                app.screen.query_one(OptionList).highlighted = index
                await pilot.press("enter")
                await wait_for(
                    pilot,
                    lambda name=name, why=why: any(  # type: ignore[misc]
                        f"Profile {name}" in n.message and why in n.message
                        for n in app._notifications
                    ),
                    what=f"why not {name}",
                )
                assert app.screen is before
                assert app.connection is not None and app.connection.profile == "staging"


async def test_where_the_app_started_is_offered_to_come_back_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started on the demo (or on flags): no profile names it, yet the switcher offers
    it, and picking it comes back to it."""
    from tests.tui.helpers import connection

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with start_server(tmp_path / "a") as first, start_server(tmp_path / "b") as second:
        config = tmp_path / "config" / "smb-tui" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(profile_text("prod east", second))
        os.chmod(config, 0o600)
        app = SmbTui(connection(first, profile="demo"))
        async with app.run_test(size=(120, 40)) as pilot:
            for pick, base_url in (("prod east", second.base_url), ("as started", first.base_url)):
                await pilot.press("ctrl+o")
                await wait_for(pilot, lambda: isinstance(app.screen, ChooseProfile), what="list")
                names = [name for name, _ in app.screen.profiles]  # type: ignore[attr-defined]
                assert names == ["as started", "prod east", "local"]
                app.screen.query_one(OptionList).highlighted = names.index(pick)
                await pilot.press("enter")
                await wait_for(
                    pilot,
                    lambda base_url=base_url: (
                        isinstance(app.screen, DashboardScreen)
                        and app.screen.client.base_url == base_url
                    ),  # type: ignore[attr-defined]
                    what=pick,
                )

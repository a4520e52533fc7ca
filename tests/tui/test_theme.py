"""Colour: the theme the user picks is kept, and NO_COLOR or a dumb terminal gets none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.color import Color
from textual.content import Content
from textual.style import Style
from textual.widgets import Static

from smb_tui.local.server import ServerThread
from smb_tui.tui.app import SmbTui
from smb_tui.tui.palette import tone
from smb_tui.tui.widgets.machine_list import MachineOptions
from tests.tui.helpers import connection, wait_for


def app_with(server: ServerThread, settings: Path, *instance: str) -> SmbTui:
    machine, name = instance if instance else (None, None)
    return SmbTui(connection(server), machine=machine, instance=name, settings_path=settings)


async def test_the_theme_picked_is_there_next_time(server: ServerThread, tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    app = app_with(server, settings)
    async with app.run_test() as pilot:
        app.theme = "nord"
        await pilot.pause()
    assert 'theme = "nord"' in settings.read_text()
    assert settings.stat().st_mode & 0o077 == 0

    again = app_with(server, settings)
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == "nord"


@pytest.mark.parametrize("text", ["theme = ", "\xff\xfe", 'theme = "no-such-theme"\n'])
async def test_a_broken_settings_file_costs_only_the_theme(
    server: ServerThread, tmp_path: Path, text: str
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_bytes(text.encode("latin-1"))
    app = app_with(server, settings)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert app.screen.query_one(MachineOptions)


async def test_text_takes_its_colours_from_the_theme(server: ServerThread, tmp_path: Path) -> None:
    app = app_with(server, tmp_path / "settings.toml", "counter", "busy")
    async with app.run_test() as pilot:
        summary = app.screen.query_one("#instance-summary", Static)

        def colours() -> set[str]:
            rendered = summary.render()
            assert isinstance(rendered, Content)
            styles = [span.style for span in rendered.spans]
            return {s.foreground.hex for s in styles if isinstance(s, Style) and s.foreground}

        def ok() -> str:
            return Color.parse(app.theme_variables["text-success"]).hex

        await wait_for(pilot, lambda: "running" in str(summary.render()))
        dark_ok = ok()
        assert dark_ok in colours()
        app.theme = "solarized-light"
        await wait_for(pilot, lambda: ok() != dark_ok, what="the new theme's variables")
        await wait_for(pilot, lambda: ok() in colours(), what="recoloured text")
        assert dark_ok not in colours()
        assert Color.parse(tone("ok")).hex == ok()


@pytest.mark.parametrize("environ", [{"NO_COLOR": ""}, {"TERM": "dumb"}])
async def test_no_colour_wanted_gets_none(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = SmbTui(connection(server))
    assert app.no_color and "NO_COLOR" in os.environ
    async with app.run_test() as pilot:
        machines = app.screen.query_one(MachineOptions)
        await wait_for(pilot, lambda: machines.option_count > 1)
        # Textual's NoColor filter (not Monochrome's greys) and a cursor that needs none.
        assert [type(f).__name__ for f in app._filters][-1] == "NoColor"
        cursor = machines.get_component_rich_style("option-list--option-highlighted")
        assert cursor.underline and cursor.bold

"""Switching profiles without restarting (as k9s's `:ctx`): the profiles in config.toml,
and `local`."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from smb_tui.core.text import safe
from smb_tui.tui.palette import tone
from smb_tui.tui.screens.modals.base import Modal


class ChooseProfile(Modal[str | None]):
    """A profile by name, with where it points; the one in use marked."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, profiles: Sequence[tuple[str, str]], current: str | None) -> None:
        super().__init__()
        self.profiles = list(profiles)  # (name, where)
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for name, where in self.profiles:
            text = Text(safe(name), style="bold")
            if name == self.current:
                text.append("  (in use)", style=tone("ok"))
            text.append(f"  {safe(where)}", style="dim")
            options.append(Option(text))  # found by position: no id made from a name
        with Vertical():
            yield Static(Text("Switch profile", style="bold"), classes="title")
            if options:
                yield OptionList(*options)
            else:
                yield Static("No profiles in config.toml, and no local one.")
            yield Static(Text("Enter switches · Esc cancels", style="dim"))

    def on_mount(self) -> None:
        names = [name for name, _ in self.profiles]
        if self.current in names:
            self.query_one(OptionList).highlighted = names.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.profiles[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)

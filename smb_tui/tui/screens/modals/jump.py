"""Jumping the history to a time."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import (
    Input,
    Static,
)

from smb_tui.core.describe import (
    parse_when,
)
from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal


class JumpToTime(Modal[float | None]):
    """Ask for a time to jump the history to; a time that cannot be read is said."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, now: Callable[[], float]) -> None:
        super().__init__()
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Jump to a time", style="bold"), classes="title")
            yield Static("The first transition at or before it: 2026-11-20 14:05 (UTC), 3h ago")
            yield Input(placeholder="3h ago", id="jump-input")
            yield Static("", classes="error", id="jump-error")

    @on(Input.Submitted)
    def _jump(self) -> None:
        try:
            moment = parse_when(self.query_one(Input).value, self.now())
        except ValueError as error:
            self.query_one("#jump-error", Static).update(Text(f"{safe(error)}; nothing moved"))
            return
        self.dismiss(moment)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Confirming a dangerous action by typing the instance's name."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Input,
    Static,
)

from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal


class TypedConfirm(Modal[bool]):
    """Confirm a dangerous action by typing the instance's name."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, action: str, expected: str) -> None:
        super().__init__()
        self.action_text = action
        self.expected = expected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(safe(self.action_text), style="bold"), classes="title")
            prompt = Text("Type the instance name ")
            prompt.append(safe(self.expected), style="bold")
            prompt.append(" to confirm:")
            yield Static(prompt)
            yield Input(id="confirm-input")
            yield Static("", classes="error", id="confirm-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Confirm", id="confirm", variant="error")

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.query_one(Input).value.strip() == self.expected:
            self.dismiss(True)
        else:
            self.query_one("#confirm-error", Static).update(
                Text("That is not the instance name; nothing was done.")
            )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

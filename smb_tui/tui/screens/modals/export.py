"""Exporting a history to a file (JSON lines or CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class ExportChoice:
    path: Path
    oldest_first: bool


class ExportHistory(Modal[ExportChoice | None]):
    """Where to write the whole history, and in which order (.csv: CSV, else JSON lines)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Export the whole history", style="bold"), classes="title")
            yield Static("A file ending .csv gets CSV; any other, JSON lines.")
            yield Input(str(self.default), id="export-path")
            yield Static("", classes="error", id="export-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Oldest first", id="oldest")
                yield Button("Newest first", id="newest", variant="primary")

    @on(Input.Submitted)
    @on(Button.Pressed, "#newest")
    @on(Button.Pressed, "#oldest")
    def _export(self, event: Input.Submitted | Button.Pressed) -> None:
        text = self.query_one(Input).value.strip()
        path = Path(text).expanduser()
        if not text or path.is_dir() or not path.parent.is_dir():
            self.query_one("#export-error", Static).update(
                Text(f"{safe(text)!r} is not a file in a folder that exists; nothing written")
            )
            return
        oldest = isinstance(event, Button.Pressed) and event.button.id == "oldest"
        self.dismiss(ExportChoice(path, oldest))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

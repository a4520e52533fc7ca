"""Replaying the open instance's history against code (`R`): what to replay it against,
and one diverging row's recorded and replayed states side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Static

from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal, safe_json


class ReplayAgainst(Modal[str | None]):
    """Ask for a bundle file, or a version on the (local) server."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, machine: str, local: bool) -> None:
        super().__init__()
        self.machine = machine
        self.local = local

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Replay this history against {safe(self.machine)}'s code", style="bold"),
                classes="title",
            )
            where = (
                "A bundle file (an XState module), or a version id on this server ('current')."
                if self.local
                else "A bundle file (an XState module): State Backed replays nothing itself."
            )
            yield Static(where)
            yield Input(
                placeholder="dist/machine.js"
                if not self.local
                else "current (Enter; or a version id, or a bundle file)",
                id="replay-input",
            )
            yield Static("", classes="error", id="replay-error")

    @on(Input.Submitted)
    def _chosen(self) -> None:
        value = self.query_one(Input).value.strip()
        if not value and self.local:
            value = "current"  # what the box offers: the machine's current version
        looks_like_file = "/" in value or value.endswith((".js", ".mjs"))
        if not value:
            self.query_one("#replay-error", Static).update(Text("Name a bundle or a version"))
            return
        if looks_like_file and not Path(value).expanduser().is_file():
            self.query_one("#replay-error", Static).update(Text(f"No file at {safe(value)}"))
            return
        if not looks_like_file and not self.local:
            self.query_one("#replay-error", Static).update(
                Text("Versions replay on a local server only: give a bundle file")
            )
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DivergenceDetail(Modal[None]):
    """A row where the replay and the history part: both states side by side."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, event_type: str, created_at: str, divergence: dict[str, Any]) -> None:
        super().__init__()
        self.event_type = event_type
        self.created_at = created_at
        self.divergence = divergence

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"{safe(self.event_type)} at {safe(self.created_at)}", style="bold"),
                classes="title",
            )
            yield Static(Text(safe(str(self.divergence.get("reason", ""))), style="bold yellow"))
            with Horizontal(id="divergence-states"):
                with VerticalScroll():
                    yield Static(Text("Recorded", style="bold"))
                    yield Static(Text(safe_json(self.divergence.get("recorded"))))
                with VerticalScroll():
                    yield Static(Text("Replayed", style="bold"))
                    yield Static(Text(safe_json(self.divergence.get("replayed"))))
            yield Static(Text("Esc close", style="dim"))

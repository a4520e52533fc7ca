"""What the app shows when it has nowhere to connect: how to, and the demo."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

from smb_tui.paths import config_path


def how_to_connect(config: Path) -> str:
    """The ways in, a secret never on the command line (`ps` and shell history keep it),
    and where config.toml is looked for (`~` for the home folder)."""
    home = str(Path.home())
    shown = str(config)
    if shown.startswith(home + os.sep):
        shown = "~" + shown[len(home) :]
    return f"""\
Connect to State Backed in one of these ways:

  smb-tui --key-id sbk_... --secret-file FILE  an API key (acts as any end user)
  smb-tui --token eyJ...                       a bearer token
  smb-tui --org-id org_... --anonymous         an anonymous session
  STATEBACKED_KEY_ID / STATEBACKED_SECRET_KEY / STATEBACKED_TOKEN / STATEBACKED_ORG_ID
  smb-tui --profile NAME                       a profile in {shown}
                                               ([profiles.NAME]: api_url, key_id, secret)

Or try it with no account: the demo runs a local State Backed with demo machines."""


class NotConnected(Screen[None]):
    DEFAULT_CSS = """
    NotConnected { align: center middle; }
    NotConnected > Vertical { width: auto; max-width: 96; height: auto; padding: 1 2;
                              border: round $warning; }
    NotConnected #reason { color: $text-warning; padding-bottom: 1; }
    NotConnected Horizontal { height: auto; align-horizontal: center; padding-top: 1; }
    NotConnected Button { margin: 0 1; }
    """
    BINDINGS = [
        Binding("d", "demo", "Start the demo"),
        Binding("q", "app.quit", "Quit"),
    ]

    class DemoRequested(Message):
        pass

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(Text(f"Not connected: {self.reason}"), id="reason")
            yield Static(Text(how_to_connect(config_path())))
            with Center(), Horizontal():
                yield Button("Start the demo (d)", id="demo", variant="primary")
                yield Button("Quit (q)", id="quit")
        yield Footer()

    @on(Button.Pressed, "#demo")
    def action_demo(self) -> None:
        self.post_message(self.DemoRequested())

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit()

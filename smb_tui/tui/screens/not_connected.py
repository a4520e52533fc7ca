"""What the app shows when it has nowhere to connect: how to, and the demo."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

HOW_TO_CONNECT = """\
Connect to State Backed in one of these ways:

  smb-tui --key-id sbk_... --secret ...        an API key (acts as any end user)
  smb-tui --token eyJ...                       a bearer token
  smb-tui --org-id org_... --anonymous         an anonymous session
  STATEBACKED_KEY_ID / STATEBACKED_SECRET_KEY / STATEBACKED_TOKEN / STATEBACKED_ORG_ID
  smb-tui --profile NAME                       a profile in config.toml

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
            yield Static(Text(HOW_TO_CONNECT))
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

"""The state map: the states a history went through and what moved it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import (
    Static,
)

from smb_tui.tui.screens.modals.base import Modal
from smb_tui.tui.state_graph import StateGraph
from smb_tui.tui.widgets.transition_history import TransitionHistory


class StateGraphScreen(Modal[None]):
    """Where the instance has been and what moved it, from the transitions loaded."""

    BINDINGS = [Binding("escape,q,m", "dismiss", "Close")]

    def __init__(self, title: str, graph: StateGraph, complete: bool) -> None:
        super().__init__()
        self.title_text = title
        self.graph = graph
        self.complete = complete

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"), classes="title")
            scope = (
                "the whole history"
                if self.complete
                else "the transitions loaded (End in the history loads them all)"
            )
            yield Static(Text(f"From {self.graph.transitions:,} transitions: {scope}", style="dim"))
            with VerticalScroll(id="graph-lines"):
                for line in self.graph.lines(TransitionHistory.clock()):
                    yield Static(line)
            yield Static(Text("Esc close", style="dim"))

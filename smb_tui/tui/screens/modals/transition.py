"""A transition's detail: its event, the state before and after, what it did to the context."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Label,
    Static,
    TextArea,
)

from smb_tui.core.describe import (
    relative_time,
    state_change,
)
from smb_tui.core.history_buffer import Row
from smb_tui.core.text import safe
from smb_tui.tui.clipboard import copy_and_say
from smb_tui.tui.palette import tone
from smb_tui.tui.screens.modals.base import Modal, safe_json
from smb_tui.tui.widgets.transition_history import TransitionHistory


@dataclass(frozen=True)
class Resend:
    """What `e` in a transition's detail answers: this event, to the composer."""

    event: Any


class TransitionDetail(Modal[Resend | None]):
    """One transition: its time, the whole event, and the state before and after it side
    by side, with what changed. `e` takes the event to the composer (nothing is sent)."""

    BINDINGS = [
        Binding("escape,q,enter", "close", "Close"),
        Binding("y", "copy", "Copy as JSON"),
        Binding("e", "resend", "To composer"),
    ]

    def __init__(self, row: Row, before: Row | None = None, context: str | None = None) -> None:
        super().__init__()
        self.row = row
        self.before = before
        self.context = context  # what it did to the context, as the dashboard saw it

    def compose(self) -> ComposeResult:
        if self.row.at:
            at = datetime.fromtimestamp(self.row.at, UTC).isoformat(timespec="milliseconds")
        else:  # the server's createdAt is not a time: shown as sent, never as 1970
            at = f"{safe(self.row.created_at)!r} (not a time)"
        change = (
            state_change(self.before.state_value, self.row.state_value) if self.before else None
        )
        with Vertical():
            title = Text(self.row.event_type, style="bold")  # Row holds safe text
            title.append(f"  at {at}  ", style="dim")
            if self.row.at:
                title.append(relative_time(TransitionHistory.clock() - self.row.at), style="dim")
            yield Static(title, classes="title")
            if change is None:
                what = Text(
                    "state before: not loaded (the first transition, or the page"
                    " before it is still to come)",
                    style="dim",
                )
            elif change.changed:
                what = Text("changed: ")
                for leaf in change.left:
                    what.append(f" left {safe(leaf)} ", style=tone("error"))
                for leaf in change.entered:
                    what.append(f" entered {safe(leaf)} ", style=tone("ok"))
            elif self.context is not None:
                what = Text("state unchanged; ")
            else:
                # Transition history carries no context: an event that only changed
                # the context looks the same here, so say only what is known.
                what = Text(
                    "state unchanged; the history does not record context, so what the"
                    " event did to it is not known here",
                    style=tone("warn"),
                )
            if self.context is not None:
                if what.plain != "state unchanged; ":
                    what.append("\n")
                what.append("context, as this dashboard saw it: ", style="dim")
                what.append(safe(self.context), style=tone("warn"))
            yield Static(what, id="detail-change")
            yield Label("event")
            yield TextArea.code_editor(
                safe_json(self.row.event),
                language="json",
                read_only=True,
                id="detail-event",
            )
            with Horizontal(id="detail-states"):
                with Vertical():
                    yield Label("state before")
                    yield TextArea.code_editor(
                        safe_json(self.before.state_value) if self.before else "",
                        language="json",
                        read_only=True,
                        id="detail-before",
                    )
                with Vertical():
                    yield Label("state after")
                    yield TextArea.code_editor(
                        safe_json(self.row.state_value),
                        language="json",
                        read_only=True,
                        id="detail-state",
                    )
            yield Static(Text("e to composer · y copy · Esc close", style="dim"))

    def action_copy(self) -> None:
        copy_and_say(
            self, json.dumps(self.row.as_json(), indent=2, ensure_ascii=False), "Transition"
        )

    def action_close(self) -> None:
        self.dismiss(None)

    def action_resend(self) -> None:
        self.dismiss(Resend(self.row.event))

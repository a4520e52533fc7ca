"""Small screens over the dashboard: details, forms and typed confirmations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from smb_tui.api.models import SLUG, MachineVersionInfo
from smb_tui.tui.describe import pretty_json, relative_time
from smb_tui.tui.widgets.event_composer import parse_object
from smb_tui.tui.widgets.machine_list import version_label
from smb_tui.tui.widgets.transition_history import Row, TransitionHistory

MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical {
    width: 90%; max-width: 100; height: auto; max-height: 90%;
    border: thick $accent; background: $surface; padding: 0 1;
}
ModalScreen .title { text-style: bold; padding: 0 0 1 0; }
ModalScreen .error { color: $text-error; height: auto; }
ModalScreen Horizontal { height: auto; align-horizontal: right; }
ModalScreen Button { margin: 0 0 0 1; }
ModalScreen TextArea { height: 8; }
"""


class TransitionDetail(ModalScreen[None]):
    """One transition: its absolute time, the whole event and the whole resulting state."""

    DEFAULT_CSS = MODAL_CSS + "TransitionDetail TextArea { height: 1fr; min-height: 6; }"
    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Close"),
        Binding("y", "copy", "Copy as JSON"),
    ]

    def __init__(self, row: Row) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        at = datetime.fromtimestamp(self.row.at, UTC).isoformat(timespec="milliseconds")
        with Vertical():
            title = Text(self.row.event_type, style="bold")
            title.append(f"  at {at}  ", style="dim")
            title.append(relative_time(TransitionHistory.clock() - self.row.at), style="dim")
            title.append("  → ")
            title.append(self.row.state, style="green")
            yield Static(title, classes="title")
            yield Label("event")
            yield TextArea.code_editor(
                pretty_json(json.loads(self.row.event_json)),
                language="json",
                read_only=True,
                id="detail-event",
            )
            yield Label("resulting state")
            yield TextArea.code_editor(
                pretty_json(json.loads(self.row.state_json)),
                language="json",
                read_only=True,
                id="detail-state",
            )
            yield Static(Text("y copy · Esc close", style="dim"))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(json.dumps(self.row.as_json(), indent=2, ensure_ascii=False))
        self.notify("Transition copied as JSON", markup=False)


class TypedConfirm(ModalScreen[bool]):
    """Confirm a dangerous action by typing the instance's name."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, action: str, expected: str) -> None:
        super().__init__()
        self.action_text = action
        self.expected = expected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.action_text, style="bold"), classes="title")
            prompt = Text("Type the instance name ")
            prompt.append(self.expected, style="bold")
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


class NewInstance(ModalScreen[tuple[str, dict[str, Any], str | None] | None]):
    """Slug, initial context as JSON, and version of a new instance."""

    DEFAULT_CSS = MODAL_CSS + "NewInstance OptionList { height: auto; max-height: 5; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, machine: str, versions: list[MachineVersionInfo]) -> None:
        super().__init__()
        self.machine = machine
        self.versions = versions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"New instance of {self.machine}", style="bold"), classes="title")
            yield Input(placeholder="slug, e.g. user-1234", id="new-slug")
            yield Label("initial context (JSON object)")
            yield TextArea.code_editor("{}", language="json", id="new-context")
            yield Label("version (the current one unless you pick another)")
            yield OptionList(
                *[
                    Option(Text(version_label(v)) + Text(f"  {v.id}", style="dim"), id=v.id)
                    for v in self.versions
                ],
                id="new-version",
            )
            yield Static("", classes="error", id="new-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        if self.versions:
            self.query_one(OptionList).highlighted = 0

    @on(Button.Pressed, "#create")
    @on(Input.Submitted, "#new-slug")
    def _create(self) -> None:
        slug = self.query_one("#new-slug", Input).value.strip()
        context, error = parse_object(self.query_one("#new-context", TextArea).text, "context")
        if not SLUG.fullmatch(slug):
            error = "the slug must be 1 to 128 letters, digits, '-' or '_'"
        if error:
            self.query_one("#new-error", Static).update(Text(f"✖ {error}"))
            return
        options = self.query_one(OptionList)
        version = None
        if options.highlighted is not None and options.highlighted > 0:
            version = options.get_option_at_index(options.highlighted).id
        self.dismiss((slug, context or {}, version))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseVersion(ModalScreen[str | None]):
    """The version an instance should move to at its next settled event."""

    DEFAULT_CSS = MODAL_CSS + "ChooseVersion OptionList { height: auto; max-height: 12; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, instance: str, versions: list[MachineVersionInfo]) -> None:
        super().__init__()
        self.instance = instance
        self.versions = versions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Desired version for {self.instance}", style="bold"), classes="title"
            )
            yield OptionList(
                *[
                    Option(
                        Text(version_label(v)) + Text(f"  {v.id}  {v.created_at}", style="dim"),
                        id=v.id,
                    )
                    for v in self.versions
                ]
            )
            yield Static(Text("Enter picks · Esc cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key, gathered from the bindings themselves so that it cannot drift."""

    DEFAULT_CSS = MODAL_CSS + "HelpScreen VerticalScroll { height: auto; max-height: 30; }"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self.sections = [
            (title, [b if isinstance(b, Binding) else Binding(*b) for b in bindings])
            for title, bindings in sections
        ]

    def compose(self) -> ComposeResult:
        text = Text()
        for title, bindings in self.sections:
            text.append(f"{title}\n", style="bold underline")
            for binding in bindings:
                if not binding.description:
                    continue
                keys = ", ".join(
                    self.app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(",")
                )
                text.append(f"  {keys:<22}", style="bold cyan")
                text.append(binding.description)
                if binding.tooltip:
                    text.append(f": {binding.tooltip}", style="dim")
                text.append("\n")
            text.append("\n")
        with Vertical():
            yield Static(Text("Keys", style="bold"), classes="title")
            with VerticalScroll():
                yield Static(text)
            yield Static(Text("Esc closes · Ctrl+P finds any action by name", style="dim"))

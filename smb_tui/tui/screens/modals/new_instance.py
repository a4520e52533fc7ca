"""Creating an instance: its name, initial context and version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Input,
    Label,
    OptionList,
    Static,
    TextArea,
)

from smb_tui.api.wire import SLUG
from smb_tui.core.describe import (
    parse_object,
)
from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal
from smb_tui.tui.screens.modals.versions import unique_versions, version_option

if TYPE_CHECKING:
    from smb_tui.api.models import MachineVersionInfo


class NewInstance(Modal[tuple[str, dict[str, Any], str | None] | None]):
    """Slug, initial context as JSON, and version of a new instance."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),  # after the keys typed before it: see EventComposer
    ]

    def __init__(
        self, machine: str, versions: list[MachineVersionInfo], current: str | None = None
    ) -> None:
        super().__init__()
        self.machine = machine
        self.versions = unique_versions(versions)
        self.current = current
        self._asked_to_discard = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"New instance of {safe(self.machine)}", style="bold"), classes="title"
            )
            yield Input(placeholder="slug, e.g. user-1234", id="new-slug")
            yield Label("initial context (JSON object)")
            yield TextArea.code_editor(
                "{}", language="json", id="new-context", tab_behavior="focus"
            )
            yield Label("version (the current one unless you pick another)")
            yield OptionList(
                *[version_option(v, self.versions, self.current) for v in self.versions],
                id="new-version",
            )
            yield Static("", classes="error", id="new-error")
            yield Static(
                Text("Enter (in the slug) or Ctrl+S creates · Tab moves · Esc cancels", "dim")
            )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        if self.versions:
            options = self.query_one(OptionList)
            ids = [v.id for v in self.versions]
            options.highlighted = ids.index(self.current) if self.current in ids else 0

    @on(Button.Pressed, "#create")
    @on(Input.Submitted, "#new-slug")
    def action_create(self) -> None:
        slug = self.query_one("#new-slug", Input).value.strip()
        context, error = parse_object(self.query_one("#new-context", TextArea).text, "context")
        if not SLUG.fullmatch(slug):
            error = "the slug must be 1 to 128 letters, digits, '-' or '_'"
        if error:
            self.query_one("#new-error", Static).update(Text(f"✖ {error}"))
            return
        options = self.query_one(OptionList)
        version = None
        if options.highlighted is not None and self.versions:
            chosen = self.versions[options.highlighted].id
            version = None if chosen == self.current else chosen
        self.dismiss((slug, context or {}, version))

    def _typed(self) -> bool:
        slug = self.query_one("#new-slug", Input).value.strip()
        context = self.query_one("#new-context", TextArea).text.strip()
        return bool(slug) or context not in ("", "{}")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        # What was typed is not thrown away on one key press.
        if self._typed() and not self._asked_to_discard:
            self._asked_to_discard = True
            self.query_one("#new-error", Static).update(
                Text("Esc again throws away what you typed; anything else keeps it.")
            )
            return
        self.dismiss(None)

    def on_key(self, event: object) -> None:
        if getattr(event, "key", None) != "escape":
            self._asked_to_discard = False

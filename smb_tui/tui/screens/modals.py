"""Small screens over the dashboard: details, forms and typed confirmations."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from smb_tui.api.errors import StateBackedError
from smb_tui.api.models import SLUG, IndexEntry, MachineVersionInfo, Page
from smb_tui.core.describe import (
    parse_object,
    parse_when,
    pretty_json,
    relative_time,
    short_json,
    state_change,
    version_label,
)
from smb_tui.core.history_buffer import Row
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone
from smb_tui.tui.state_graph import StateGraph
from smb_tui.tui.widgets.transition_history import TransitionHistory

T = TypeVar("T")


class Modal(ModalScreen[T]):
    """The look every dialog shares: one stylesheet, `modals.tcss`."""

    CSS_PATH = "modals.tcss"


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
        self.app.copy_to_clipboard(json.dumps(self.row.as_json(), indent=2, ensure_ascii=False))
        self.notify("Transition copied as JSON", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_resend(self) -> None:
        self.dismiss(Resend(self.row.event))


def safe_json(value: Any) -> str:
    """Pretty JSON that is still valid JSON: what `safe` escapes sits inside strings."""
    return "\n".join(safe(line) for line in pretty_json(value).splitlines())


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


IndexQuery = Callable[[str, str | None, str | None, str, str | None], Awaitable[Page[IndexEntry]]]
OPS = [
    ("= eq", "eq"),
    ("≠ ne", "ne"),
    ("> gt", "gt"),
    ("≥ gte", "gte"),
    ("< lt", "lt"),
    ("≤ lte", "lte"),
    ("all, in index order", "all"),
]


class QueryIndex(Modal[str | None]):
    """Instances by an index: index, op, value and direction; pages as you go down;
    Enter on one opens it. A value the server refuses is said, and the list kept."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, machine: str, indexes: Sequence[str], query: IndexQuery) -> None:
        super().__init__()
        self.machine = machine
        self.indexes = list(indexes)
        self.query_page = query
        self.cursor: str | None = None
        self.found: list[IndexEntry] = []  # the entries behind the result options, in order
        self._asked: tuple[str, str | None, str | None, str] = ("", None, None, "asc")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Query an index of {safe(self.machine)}", style="bold"), classes="title"
            )
            with Horizontal(id="query-row"):
                yield Select(
                    [(safe(i), i) for i in self.indexes],
                    value=self.indexes[0],
                    allow_blank=False,
                    id="query-index",
                )
                yield Select(OPS, value="eq", allow_blank=False, id="query-op")
                yield Input(placeholder="value", id="query-value")
                yield Select(
                    [("ascending", "asc"), ("descending", "desc")],
                    value="asc",
                    allow_blank=False,
                    id="query-dir",
                )
            yield Static("", classes="error", id="query-error")
            yield OptionList(id="query-results")
            yield Static(
                Text(
                    "Enter in the value box queries · Enter on an instance opens it · Esc cancels",
                    style="dim",
                )
            )

    def on_mount(self) -> None:
        # Keys typed at once are the value; Tab reaches the index, op and direction.
        self.query_one("#query-value", Input).focus()

    @on(Input.Submitted, "#query-value")
    def _submit(self) -> None:
        index = str(self.query_one("#query-index", Select).value)
        op = str(self.query_one("#query-op", Select).value)
        value = self.query_one("#query-value", Input).value
        if op != "all" and not value.strip():
            self._error("give a value to compare with (or pick 'all')")
            return
        direction = str(self.query_one("#query-dir", Select).value)
        self._asked = (
            index,
            None if op == "all" else op,
            None if op == "all" else value,
            direction,
        )
        self.query_one("#query-results", OptionList).clear_options()
        self.cursor, self.found = None, []
        self._fetch(None)

    def _error(self, text: str) -> None:
        self.query_one("#query-error", Static).update(Text(text))

    @work(exclusive=True, exit_on_error=False)
    async def _fetch(self, cursor: str | None) -> None:
        index, op, value, direction = self._asked
        results = self.query_one("#query-results", OptionList)
        try:
            page = await self.query_page(index, op, value, direction, cursor)
        except StateBackedError as error:
            self._error(f"{safe(error)}; nothing changed")
            return
        self._error("")
        if results.option_count and results.get_option_at_index(-1).id == "more":
            results.remove_option("more")
        self.found.extend(page.items)
        results.add_options(
            Option(
                Text.assemble(
                    (safe(entry.slug), "bold"),
                    ("  ", ""),
                    (safe(short_json(entry.index_value)), "dim"),
                ),
            )
            for entry in page.items
        )
        self.cursor = page.cursor
        if page.cursor:
            results.add_option(Option(Text("… more (Enter loads)", style="dim italic"), id="more"))
        elif not results.option_count:
            results.add_option(
                Option(Text("no instance matches", style="dim"), id="none", disabled=True)
            )
        if cursor is None and results.highlighted is None:
            results.highlighted = 0
        results.focus()

    @on(OptionList.OptionSelected, "#query-results")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option_id == "more":
            self._fetch(self.cursor)
        elif event.option_id is None and event.option_index < len(self.found):
            self.dismiss(self.found[event.option_index].slug)

    def action_cancel(self) -> None:
        self.dismiss(None)


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


class NewInstance(Modal[tuple[str, dict[str, Any], str | None] | None]):
    """Slug, initial context as JSON, and version of a new instance."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create", priority=True),
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


def version_option(
    version: MachineVersionInfo,
    versions: Sequence[MachineVersionInfo],
    current: str | None,
    running: str | None = None,
    desired: str | None = None,
) -> Option:
    """A version by its label, with its id, and marked current, newest, running or next."""
    text = Text(safe(version_label(version)), style="bold")
    marks = []
    if version.id == current:
        marks.append("current")
    if versions and max(versions, key=lambda v: v.created_at).id == version.id:
        marks.append("newest")
    if version.id == running:
        marks.append("this instance runs it")
    if version.id == desired:
        marks.append("it runs this from its next event")
    if marks:
        text.append(f"  ({', '.join(marks)})", style=tone("ok"))
    text.append(f"  {safe(version.id)}  {safe(version.created_at)}", style="dim")
    return Option(text)  # found by its position: an id is never made from server text


def unique_versions(versions: Sequence[MachineVersionInfo]) -> list[MachineVersionInfo]:
    """Each version id once, as the server should have sent them."""
    seen: dict[str, MachineVersionInfo] = {}
    for version in versions:
        seen.setdefault(version.id, version)
    return list(seen.values())


class ChooseVersion(Modal[str | None]):
    """The version an instance should move to at its next settled event."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        instance: str,
        versions: list[MachineVersionInfo],
        current: str | None = None,
        running: str | None = None,
    ) -> None:
        super().__init__()
        self.instance = instance
        self.versions = unique_versions(versions)
        self.current = current
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Desired version for {safe(self.instance)}", style="bold"), classes="title"
            )
            yield OptionList(
                *[
                    version_option(v, self.versions, self.current, self.running)
                    for v in self.versions
                ]
            )
            yield Static(Text("Enter picks · Esc cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.versions[event.option_index].id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class VersionsScreen(Modal[str | None]):
    """A machine's versions, newest first: which is current, which the open instance runs
    and which it will run from its next event. `d` answers "deploy": deploy a file."""

    BINDINGS = [
        Binding("escape,q,V", "dismiss", "Close"),
        Binding("d", "deploy", "Deploy a file as a new version"),
    ]

    def action_deploy(self) -> None:
        self.dismiss("deploy")

    def __init__(
        self,
        machine: str,
        versions: list[MachineVersionInfo],
        current: str | None,
        running: str | None = None,
        desired: str | None = None,
    ) -> None:
        super().__init__()
        self.machine = machine
        self.versions = unique_versions(versions)
        self.marks = (current, running, desired)

    def compose(self) -> ComposeResult:
        with Vertical():
            count = len(self.versions)
            title = Text(f"Versions of {safe(self.machine)}", style="bold")
            title.append(f"  {count} version{'s' if count != 1 else ''}", style="dim")
            yield Static(title, classes="title")
            current, running, desired = self.marks
            yield OptionList(
                *[
                    version_option(v, self.versions, current, running, desired)
                    for v in self.versions
                ],
                id="versions",
            )
            yield Static(
                Text(
                    "d deploys a file as a new version · U moves the instance to another"
                    " version · Esc close",
                    style="dim",
                )
            )


@dataclass(frozen=True)
class Deploy:
    """What the deploy dialog asks for: a bundle's code, its label, make it current?"""

    path: Path
    code: str
    client_info: str
    make_current: bool


class DeployVersion(Modal[Deploy | None]):
    """A bundle file (an ES module, as smply or `smb-tui deploy` builds it) to deploy as
    a new version of the machine. The file is read here: one that cannot be read is
    said in the dialog, and nothing is sent."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "deploy", "Deploy", priority=True),
    ]

    def __init__(self, machine: str) -> None:
        super().__init__()
        self.machine = machine

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Deploy a new version of {safe(self.machine)}", style="bold"),
                classes="title",
            )
            yield Input(placeholder="bundle file, e.g. dist/door.js", id="deploy-path")
            yield Input(placeholder="label (client info), e.g. a git sha", id="deploy-info")
            yield Checkbox("make it current (new instances start on it)", id="deploy-current")
            yield Static("", classes="error", id="deploy-error")
            yield Static(Text("Enter or Ctrl+S deploys · Tab moves · Esc cancels", "dim"))
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Deploy", id="deploy", variant="primary")

    @on(Button.Pressed, "#deploy")
    @on(Input.Submitted)
    def action_deploy(self) -> None:
        given = self.query_one("#deploy-path", Input).value.strip()
        error = ""
        code = ""
        path = Path(given).expanduser()
        if not given:
            error = "name the bundle file to deploy"
        else:
            try:
                code = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as failure:
                error = f"cannot read {given}: {getattr(failure, 'strerror', None) or failure}"
        if error:
            self.query_one("#deploy-error", Static).update(Text(f"✖ {safe(error)}"))
            return
        self.dismiss(
            Deploy(
                path,
                code,
                self.query_one("#deploy-info", Input).value.strip(),
                self.query_one("#deploy-current", Checkbox).value,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(Modal[None]):
    """Every key, gathered from the bindings themselves so that it cannot drift."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self.sections = [
            (title, [b if isinstance(b, Binding) else Binding(*b) for b in bindings])
            for title, bindings in sections
        ]

    def _section(self, title: str, bindings: Sequence[Binding]) -> Text:
        text = Text()
        text.append(f"{title}\n", style="bold underline")
        for binding in bindings:
            if not binding.description:
                continue
            keys = ", ".join(
                self.app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(",")
            )
            text.append(f"  {keys:<14}", style=tone("accent", "bold"))
            text.append(binding.description)
            if binding.tooltip:
                text.append(f": {binding.tooltip}", style="dim")
            text.append("\n")
        return text

    def compose(self) -> ComposeResult:
        # Two columns where there is room, so that every key fits without scrolling.
        first, *rest = self.sections
        with Vertical():
            yield Static(Text("Keys", style="bold"), classes="title")
            with VerticalScroll():
                if self.app.size.width >= 120:
                    with Horizontal(id="help-columns"):
                        yield Static(self._section(*first), classes="help-column")
                        yield Static(
                            Text("\n").join(self._section(*section) for section in rest),
                            classes="help-column",
                        )
                else:
                    yield Static(
                        Text("\n").join(self._section(*section) for section in self.sections)
                    )
            yield Static(Text("Esc closes · Ctrl+P finds any action by name", style="dim"))

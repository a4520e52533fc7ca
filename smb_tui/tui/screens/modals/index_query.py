"""Querying a machine's index."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Input,
    OptionList,
    Select,
    Static,
)
from textual.widgets.option_list import Option

from smb_tui.api.errors import StateBackedError
from smb_tui.api.models import IndexEntry, Page
from smb_tui.core.describe import (
    short_json,
)
from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal

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

"""A list that loads itself page by page as you move down it, with errors shown in place.

Option ids are never made from what the server sent (a slug could be `__load_more__`, or
come twice): an item is found by its position; items the server repeats are shown once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from smb_tui.api.errors import StateBackedError
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone

if TYPE_CHECKING:  # loaded with the client, once the dashboard has drawn its first frame
    from pydantic import BaseModel

    from smb_tui.api.models import Page

T = TypeVar("T", bound="BaseModel")
LOAD_MORE_ID = "__load_more__"
ERROR_ID = "__error__"


class PagedList(OptionList, Generic[T]):
    """Options made from `T`s, fetched with `fetch(cursor)` one page at a time."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "First", show=False),
        Binding("G", "last", "Last", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.items: list[T] = []
        self._fetch: Callable[[str | None], Awaitable[Page[T]]] | None = None
        self._cursor: str | None = None
        self._more = False
        self._loading = False
        self._error: str | None = None
        self._generation = 0
        self.filter_text = ""
        self._shown: list[T] = []  # the items behind the options, in their order
        self._keep: str | None = None  # an item to highlight again once a reload has it
        self._note_shown: list[tuple[str, str | None, bool]] | None = None  # of an empty list

    # -- what subclasses say -------------------------------------------------------------

    def item_id(self, item: T) -> str:
        raise NotImplementedError

    def item_prompt(self, item: T) -> Text:
        raise NotImplementedError

    def matches(self, item: T, text: str) -> bool:
        return text.lower() in self.item_id(item).lower()

    # -- loading -------------------------------------------------------------------------

    def load(self, fetch: Callable[[str | None], Awaitable[Page[T]]] | None) -> None:
        self._generation += 1
        self._fetch = fetch
        self.items, self._cursor, self._more, self._error = [], None, fetch is not None, None
        self._loading, self._keep = False, None
        if fetch is None:
            self._rebuild()
        else:
            self._load_next()  # Loading… in place of what was shown

    def expect(self) -> None:
        """Loading… from now, before `load` is given what fetches: the dashboard's first
        frame is drawn before its client is made."""
        self._loading = True
        self._rebuild()

    def reload(self) -> None:
        """Read the list again without moving what the user looks at: what is shown stays
        until as many items as before have come again (or the end), and the highlight
        stays on the same item."""
        if self._fetch is None:
            return
        self._generation += 1
        self._keep = self.highlighted_id
        self._error, self._loading = None, True
        self._reload(self._fetch, max(len(self.items), 1), self._generation)

    @work(group="page", exit_on_error=False)
    async def _reload(
        self, fetch: Callable[[str | None], Awaitable[Page[T]]], wanted: int, generation: int
    ) -> None:
        items: list[T] = []
        cursor: str | None = None
        more = True
        try:
            while more and len(items) < wanted:
                page = await fetch(cursor)
                items.extend(page.items)
                cursor, more = page.cursor, page.cursor is not None
        except StateBackedError as error:
            if generation == self._generation:
                self._failed(safe(error))
            return
        if generation == self._generation:
            self._took(items, cursor)
            self._keep = None  # gone from the list: the highlight stays where it fell

    def _load_next(self) -> None:
        if self._fetch is None or self._loading or not self._more:
            return
        self._loading = True
        self._rebuild()
        self._load_page(self._fetch, self._cursor, self._generation)

    @work(group="page", exit_on_error=False)
    async def _load_page(
        self, fetch: Callable[[str | None], Awaitable[Page[T]]], cursor: str | None, generation: int
    ) -> None:
        try:
            page = await fetch(cursor)
        except StateBackedError as error:
            if generation == self._generation:
                self._failed(safe(error))
            return
        if generation == self._generation:
            self._took([*self.items, *page.items], page.cursor)

    def _took(self, items: list[T], cursor: str | None) -> None:
        """The items now known, each once (a server that repeats one, within a page or
        across pages, does not get it shown twice), and the cursor of the page after."""
        seen: dict[str, T] = {}
        for item in items:
            seen.setdefault(self.item_id(item), item)
        self.items = list(seen.values())
        self._cursor, self._more, self._loading = cursor, cursor is not None, False
        self._rebuild()

    def _failed(self, why: str) -> None:
        self._loading, self._error = False, why
        self._rebuild()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._rebuild()

    def redraw(self) -> None:
        """Build the rows again from the items held (after a change of theme)."""
        self._note_shown = None
        self._rebuild()

    def _rebuild(self) -> None:
        highlighted = self._keep or self.highlighted_id
        self._shown = [
            item
            for item in self.items
            if not self.filter_text or self.matches(item, self.filter_text)
        ]
        options = [Option(self.item_prompt(item)) for item in self._shown]
        if self.filter_text and not options and self.items:
            options.append(
                Option(
                    Text(f"no match for {safe(self.filter_text)!r}", style="italic dim"),
                    disabled=True,
                )
            )
        if self._error:
            options.append(
                Option(
                    Text(f"⚠ {self._error} (r to retry)", style=tone("error")),
                    id=ERROR_ID,
                    disabled=True,
                )
            )
        elif self._loading:
            options.append(
                Option(Text("Loading…", style="italic dim"), id=LOAD_MORE_ID, disabled=True)
            )
        elif self._more:
            options.append(Option(Text("More… (Enter)", style="italic dim"), id=LOAD_MORE_ID))
        elif not self.items and self._fetch is not None:
            options.append(Option(Text("(none)", style="italic dim"), disabled=True))
        # An empty list whose note is the one shown already (Loading… as the dashboard
        # starts, then again as it loads) keeps its option: setting options lays out the
        # screen (15 ms, on the way to the first machines).
        note = None if self._shown else [(str(o.prompt), o.id, o.disabled) for o in options]
        if note is not None and note == self._note_shown:
            return
        self._note_shown = note
        self.set_options(options)
        # set_options forgets the highlight: keep it on the same item, or start at the top.
        ids = [self.item_id(item) for item in self._shown]
        if highlighted is not None and highlighted in ids:
            self.highlighted = ids.index(highlighted)
            self._keep = None
        elif self.items and options and not self._loading:
            self.highlighted = 0

    def id_at(self, index: int | None) -> str | None:
        """The id of the item shown at option `index` (None: a note, or nothing)."""
        if index is None or not 0 <= index < len(self._shown):
            return None
        return self.item_id(self._shown[index])

    @property
    def highlighted_id(self) -> str | None:
        return self.id_at(self.highlighted)

    def action_cursor_up(self) -> None:
        """Up, stopping at the top: Textual's list wraps round to its last row, which here
        is only the last loaded, and asked for the next page."""
        if self.highlighted is None or self.highlighted > 0:
            before = self.highlighted
            super().action_cursor_up()
            if before is not None and (self.highlighted is None or self.highlighted > before):
                self.highlighted = before  # it wrapped: nothing enabled above

    def action_cursor_down(self) -> None:
        """Down, stopping at the last row (loading more as it nears it)."""
        before = self.highlighted
        super().action_cursor_down()
        if before is not None and (self.highlighted is None or self.highlighted < before):
            self.highlighted = before

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        if highlighted is not None and highlighted >= self.option_count - 3:
            self._load_next()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new + self.size.height * 2 >= self.virtual_size.height:
            self._load_next()

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def settled(self) -> bool:
        """Read (or failed), with no page on its way."""
        return self._fetch is not None and not self._loading

    def retry(self) -> None:
        """Ask again for the page that failed."""
        if self._error:
            self._error = None
            self._load_next()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A page that raised what nobody expected: an error in place, not Loading… for
        ever."""
        if event.state == WorkerState.ERROR:
            self._failed(safe(f"unexpected: {event.worker.error}"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_id in (LOAD_MORE_ID, ERROR_ID):
            event.stop()
            self._load_next()

"""The transition history: a million rows without a widget per row (after Toolong).

Rows live in two plain lists (newer ones prepended, older pages appended), so adding
a page or a new transition costs the same at 1,000 rows as at 1,000,000. Only the
visible lines are rendered, through an LRU cache of strips. The next cursor page is
fetched when the cursor or the view comes within a screen of the end; each cursor is
asked for once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from smb_tui.api.errors import StateBackedError
from smb_tui.api.models import Page, Transition
from smb_tui.tui.describe import (
    event_type,
    parse_time,
    payload_summary,
    relative_time,
    state_summary,
)

FetchPage = Callable[[str | None], Awaitable[Page[Transition]]]


@dataclass(frozen=True, slots=True)
class Row:
    """One transition, kept as the few strings the screen needs."""

    at: float
    created_at: str
    event_type: str
    payload: str
    state: str
    event_json: str
    state_json: str

    @classmethod
    def of(cls, transition: Transition) -> Row:
        return cls(
            at=parse_time(transition.created_at),
            created_at=transition.created_at,
            event_type=event_type(transition.event),
            payload=payload_summary(transition.event, 200),
            state=state_summary(transition.state),
            event_json=json.dumps(transition.event, ensure_ascii=False),
            state_json=json.dumps(transition.state, ensure_ascii=False),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "createdAt": self.created_at,
            "event": json.loads(self.event_json),
            "state": json.loads(self.state_json),
        }


class TransitionHistory(ScrollView, can_focus=True):
    """Transitions in the server's order, fetched page by page as you scroll."""

    COMPONENT_CLASSES = {
        "transition-history--cursor",
        "transition-history--time",
        "transition-history--event",
        "transition-history--payload",
        "transition-history--state",
        "transition-history--note",
        "transition-history--error",
    }
    DEFAULT_CSS = """
    TransitionHistory {
        background: $surface;
    }
    TransitionHistory > .transition-history--cursor { background: $accent 30%; }
    TransitionHistory:focus > .transition-history--cursor { background: $accent 60%; }
    TransitionHistory > .transition-history--time { color: $text-muted; }
    TransitionHistory > .transition-history--event { color: $text-accent; text-style: bold; }
    TransitionHistory > .transition-history--payload { color: $text; }
    TransitionHistory > .transition-history--state { color: $text-success; }
    TransitionHistory > .transition-history--note { color: $text-muted; text-style: italic; }
    TransitionHistory > .transition-history--error { color: $text-error; }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Newest", show=False),
        Binding("end,G", "last", "Oldest loaded", show=False),
        Binding("enter", "open", "Open", tooltip="The transition's full event and state"),
        Binding("y", "copy", "Copy row", tooltip="Copy the transition as JSON"),
    ]

    cursor: reactive[int] = reactive(0, repaint=False)
    unseen: reactive[int] = reactive(0)  # new rows above the view, not yet looked at
    clock: Callable[[], float] = staticmethod(time.time)  # what "5m ago" counts from

    class Loaded(Message):
        """A page arrived; the event types in it (for the composer's suggestions)."""

        def __init__(self, event_types: list[str]) -> None:
            super().__init__()
            self.event_types = event_types

    class Opened(Message):
        """Enter on a transition: show all of it."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fetch: FetchPage | None = None
        self._newer: list[Row] = []  # newest last: prepending is an append
        self._older: list[Row] = []  # in the server's order
        self._next_cursor: str | None = None
        self._at_end = False
        self._loading = False
        self._error: str | None = None
        self._generation = 0
        self.requested_cursors: list[str | None] = []
        self._lines: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)

    # -- data ----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._newer) + len(self._older)

    def row(self, index: int) -> Row:
        newer = len(self._newer)
        return self._newer[newer - 1 - index] if index < newer else self._older[index - newer]

    @property
    def at_end(self) -> bool:
        return self._at_end

    @property
    def loading_page(self) -> bool:
        return self._loading

    def load(self, fetch: FetchPage | None) -> None:
        """Show another instance's history (None: none), from its first page."""
        self._generation += 1
        self.workers.cancel_group(self, "history")
        self._fetch = fetch
        self._newer, self._older = [], []
        self._next_cursor, self._at_end, self._loading, self._error = None, False, False, None
        self.requested_cursors = []
        self._lines.clear()
        self.cursor = 0
        self.unseen = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._resize()
        if fetch is not None:
            self._request(None)

    def _request(self, cursor: str | None) -> None:
        if self._fetch is None or self._loading or cursor in self.requested_cursors:
            return
        self.requested_cursors.append(cursor)
        self._loading, self._error = True, None
        self._resize()
        self._fetch_page(self._fetch, cursor, self._generation)

    @work(group="history", exit_on_error=False)
    async def _fetch_page(self, fetch: FetchPage, cursor: str | None, generation: int) -> None:
        try:
            page = await fetch(cursor)
        except StateBackedError as error:
            if generation == self._generation:
                self._loading, self._error = False, str(error)
                # Retrying may ask for this cursor again.
                self.requested_cursors.remove(cursor)
                self._resize()
            return
        if generation != self._generation or get_current_worker().is_cancelled:
            return
        self.add_page(page)

    def add_page(self, page: Page[Transition]) -> None:
        """Append a fetched page: work in proportion to the page, not to the rows held."""
        rows = [Row.of(t) for t in page.items]
        self._older.extend(rows)
        self.post_message(self.Loaded(list(dict.fromkeys(r.event_type for r in rows))))
        self._next_cursor = page.cursor
        self._at_end = page.cursor is None
        self._loading = False
        self._resize()
        self.prefetch()

    def prefetch(self) -> None:
        """Ask for the next page when the view or the cursor is within a screen of the end."""
        if self._next_cursor is None or self._loading or self._error:
            return
        height = max(self.size.height, 1)
        nearest = max(self.scroll_offset.y + height, self.cursor)
        if nearest + height >= self.row_count:
            self._request(self._next_cursor)

    def add_newest(self, rows: Sequence[Row]) -> None:
        """New transitions at the top, newest first, without moving what is in view."""
        if not rows:
            return
        following = self.cursor == 0 and self.scroll_offset.y == 0
        self._newer.extend(reversed(rows))
        self._resize()
        if not following:
            self.unseen += len(rows)
            self.cursor += len(rows)
            self.scroll_to(y=self.scroll_offset.y + len(rows), animate=False, immediate=True)
        self.refresh()

    def newest(self, count: int) -> list[Row]:
        return [self.row(i) for i in range(min(count, self.row_count))]

    def merge_newest(self, rows: Sequence[Row]) -> bool:
        """Given the server's first page again, add the transitions that are new.

        Transitions carry no id, so the rows we hold are found in the page by a run of
        them. False when they are not there (over a page of news): reload instead.
        """
        top = self.newest(5)
        if not top:
            return False
        for start in range(len(rows)):
            window = list(rows[start : start + len(top)])
            if window == top[: len(window)]:
                self.add_newest(rows[:start])
                return True
        return False

    def refresh_newest(self) -> None:
        """Fetch the first page again and show what is new (after a send, or live)."""
        if self._fetch is not None:
            self._fetch_newest(self._fetch, self._generation)

    @work(group="history-newest", exclusive=True, exit_on_error=False)
    async def _fetch_newest(self, fetch: FetchPage, generation: int) -> None:
        try:
            page = await fetch(None)
        except StateBackedError:
            return  # the next update tries again; the pane keeps what it has
        if generation != self._generation:
            return
        rows = [Row.of(t) for t in page.items]
        if not self.merge_newest(rows) and not self._loading:
            self.load(fetch)

    # -- drawing -------------------------------------------------------------------------

    def _resize(self) -> None:
        # Rows fit the width, so no horizontal scrolling: only the height is virtual.
        self.virtual_size = Size(0, self.row_count + 1)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._lines.clear()
        self._resize()
        self.prefetch()

    def on_mount(self) -> None:
        # Relative times age: redraw now and then (only visible lines are drawn).
        self.set_interval(15, self.refresh)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.prefetch()

    def watch_cursor(self, old: int, new: int) -> None:
        if new < self.unseen:
            self.unseen = new
        self.refresh()
        self.prefetch()

    def watch_unseen(self, unseen: int) -> None:
        self.border_subtitle = f"↑ {unseen} new (Home)" if unseen else ""

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index < self.row_count:
            row = self.row(index)
            selected = index == self.cursor
            age = relative_time(self.clock() - row.at) if row.at else "?"
            key = (row, width, selected, self.has_focus, age)
            strip = self._lines.get(key)
            if strip is None:
                strip = self._render_row(row, width, selected, age)
                self._lines[key] = strip
            return strip
        if index == self.row_count:
            return self._render_note(width)
        return Strip.blank(width, base)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"transition-history--{name}")

    def _render_row(self, row: Row, width: int, selected: bool, age: str) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        event_width = max(8, min(28, width // 4))
        line.append(f"{age:>8} ", self._style("time"))
        line.append(f"{row.event_type[:event_width]:<{event_width}} ", self._style("event"))
        # The state gets what it needs unless the payload needs it more.
        room = max(0, width - 9 - event_width - 1 - 3)
        state_width = min(len(row.state), max(room // 2, room - len(row.payload)))
        state = row.state
        if len(state) > state_width:
            state = state[: max(0, state_width - 1)] + "…"
        payload_width = max(0, room - len(state))
        payload = row.payload
        if len(payload) > payload_width:
            payload = payload[: max(0, payload_width - 1)] + "…" if payload_width else ""
        line.append(f"{payload:<{payload_width}}", self._style("payload"))
        line.append(" → ", self._style("time"))
        line.append(state, self._style("state"))
        if selected:
            line.stylize(self._style("cursor"))
        line.stylize_before(self.rich_style)
        return Strip(line.render(self.app.console)).crop_extend(0, width, self.rich_style)

    def _render_note(self, width: int) -> Strip:
        if self._error:
            text = Text(f"⚠ {self._error} (r to retry)", self._style("error"), no_wrap=True)
        elif self._loading:
            text = Text("  Loading more transitions…", self._style("note"))
        elif self._at_end:
            count = self.row_count
            text = Text(
                f"  ── start of history: {count:,} transition{'s' if count != 1 else ''} ──",
                self._style("note"),
            )
        elif self._fetch is None:
            text = Text("  Open an instance to see its transitions.", self._style("note"))
        else:
            text = Text("  …", self._style("note"))
        text.stylize_before(self.rich_style)
        return Strip(text.render(self.app.console)).crop_extend(0, width, self.rich_style)

    # -- actions -------------------------------------------------------------------------

    def _move(self, to: int) -> None:
        self.cursor = max(0, min(to, self.row_count - 1))
        height = max(self.size.height, 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move(self.cursor - max(self.size.height - 1, 1))

    def action_page_down(self) -> None:
        self._move(self.cursor + max(self.size.height - 1, 1))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(self.row_count - 1)

    def action_open(self) -> None:
        if self.row_count:
            self.post_message(self.Opened(self.row(self.cursor)))

    def action_copy(self) -> None:
        if self.row_count:
            self.app.copy_to_clipboard(json.dumps(self.row(self.cursor).as_json(), indent=2))
            self.notify("Transition copied as JSON", markup=False)

    def retry(self) -> None:
        """Ask again for the page that failed."""
        if self._error and self._fetch is not None:
            self._error = None
            self._request(self._next_cursor if self.row_count else None)

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if index < self.row_count:
            self.cursor = index
            if event.chain >= 2:
                self.action_open()

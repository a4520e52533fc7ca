"""The transition history: a million rows without a widget per row (after Toolong).

The rows and the paging are a `HistoryPager` (no Textual); this widget keeps the keys and
the view, draws only the visible lines through an LRU cache of strips, and runs the
pager's fetches in its workers. The next cursor page is fetched
when the cursor or the view comes within a screen of the end; each cursor is asked for
once. The line after the last row says what the history is doing (loading, failed,
the real start) and is reachable with the keys.

Why one module of ~810 lines: one ScrollView whose keys, drawing and workers share its
reactive state (cursor, scroll, time mode, filter); the paging, the rows and the cache are
headless modules of their own (`core/history_pager.py`, `history_buffer.py`,
`history_cache.py`).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from rich.segment import Segment
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
from textual.worker import Worker, WorkerState, get_current_worker

from smb_tui.api.wire import UPGRADE_EVENT
from smb_tui.core.describe import (
    clock_time,
    relative_time,
    short_event,
    state_change,
)
from smb_tui.core.history_buffer import Row, events_by_type, own_text
from smb_tui.core.history_cache import CacheUnavailable
from smb_tui.core.history_pager import HistoryPager
from smb_tui.core.text import safe
from smb_tui.tui.clipboard import copy_and_say
from smb_tui.tui.widgets.pass_style import StyledOncePerPass

if TYPE_CHECKING:
    from smb_tui.api.models import Page, Transition
    from smb_tui.core.describe import StateChange
    from smb_tui.core.history_buffer import AskedCursors, HistoryBuffer
    from smb_tui.core.history_cache import CachedHistory, FetchPage

__all__ = ["Row", "TransitionHistory"]

NOTHING_OPEN = "  Open an instance to see its transitions."
MAX_CONTEXT_MARKS = 1_000  # rows marked with the context change seen: the newest kept
MAX_PENDING_MARKS = 100
MARK_SLACK = 0.002  # seconds: a state's `ts` is in ms, a transition's time may be finer
MARK_WINDOW = 1.0  # seconds: how much older than its state's `ts` a transition may be
# Rows of long events (each its own, held whole) past the view: as many as hold this many
# bytes of their text (`own_text`), at least MIN_WINDOW_ROWS (5,000 rows of 300 kB events
# held 3 GB).
HELD_TEXT = 16_000_000
MIN_WINDOW_ROWS = 50
WINDOW_SAMPLE = 200  # the newest rows, whose size says what a row holds
TimeMode = Literal["age", "utc", "local"]


class TransitionHistory(StyledOncePerPass, ScrollView, can_focus=True):
    """Transitions in the server's order, fetched page by page as you scroll."""

    COMPONENT_CLASSES = {
        "transition-history--cursor",
        "transition-history--time",
        "transition-history--event",
        "transition-history--payload",
        "transition-history--state",
        "transition-history--unchanged",
        "transition-history--context",
        "transition-history--note",
        "transition-history--error",
    }
    DEFAULT_CSS = """
    TransitionHistory {
        background: $surface;
    }
    TransitionHistory > .transition-history--cursor { background: $accent 30%; }
    TransitionHistory:focus > .transition-history--cursor { background: $accent 60%; }
    TransitionHistory:nocolor > .transition-history--cursor { text-style: bold underline; }
    TransitionHistory > .transition-history--time { color: $text-muted; }
    TransitionHistory > .transition-history--event { color: $text-accent; text-style: bold; }
    TransitionHistory > .transition-history--payload { color: $text; }
    TransitionHistory > .transition-history--state { color: $text-success; }
    TransitionHistory > .transition-history--unchanged { color: $text-muted; }
    TransitionHistory > .transition-history--context { color: $text-warning; }
    TransitionHistory > .transition-history--note { color: $text-muted; text-style: italic; }
    TransitionHistory > .transition-history--error { color: $text-error; }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Newest", show=False),
        Binding("end,G", "last", "Start of history", tooltip="Loads every page to the start"),
        Binding("enter", "open", "Open", tooltip="The transition's full event and state"),
        Binding("y", "copy", "Copy row", tooltip="Copy the transition as JSON"),
        Binding("slash", "filter", "Search", tooltip="Event types and payloads, all pages"),
        Binding("t", "jump", "Time", tooltip="Jump to a time: 2026-11-20 14:05, 3h ago"),
        Binding("u", "time_mode", "Ages/UTC", tooltip="Times as ages, UTC or local time"),
        Binding("m", "graph", "Map", tooltip="The states it went through and what moved it"),
        Binding("M", "chart", "Chart", tooltip="The machine's statechart, drawn, the instance lit"),
        Binding(
            "R",
            "replay",
            "Replay",
            tooltip="Replay the history against code; mark where it differs",
        ),
        Binding("E", "export", "Export", tooltip="The whole history to a file (JSONL, CSV)"),
        Binding("K", "forget_cache", "Uncache", tooltip="Forget the cached history; fetch anew"),
        Binding("n", "next_match", "Next match", show=False, tooltip="The next older match"),
        Binding("N", "previous_match", "Prev match", show=False, tooltip="The next newer match"),
    ]

    cursor: reactive[int] = reactive(0, repaint=False)
    time_mode: reactive[TimeMode] = reactive("age")
    unseen: reactive[int] = reactive(0)  # new rows above the view, not yet looked at
    clock: Callable[[], float] = staticmethod(time.time)  # what "5m ago" counts from
    window_rows = 5_000  # rows held past which the older ones are left to the cache

    class CacheFailed(Message):
        """The history cache could not be used; the history goes on without it."""

        def __init__(self, why: str) -> None:
            super().__init__()
            self.why = why

    class Loaded(Message):
        """A page arrived; the event types in it, each with its newest event (for the
        composer's suggestions and example payloads).

        Pages can come faster than the screen handles them (scrolling through a long
        history): one still waiting gives way to the next, which takes its types."""

        def __init__(self, events: dict[str, Any]) -> None:
            super().__init__()
            self.events = events

        def can_replace(self, message: Message) -> bool:
            if not isinstance(message, TransitionHistory.Loaded):
                return False
            # `message` came after this one and is handled in its place: this one's first.
            message.events = self.events | {
                event_type: event
                for event_type, event in message.events.items()
                if event_type not in self.events
            }
            return True

    class Upgraded(Message):
        """New rows include an upgrade: the instance is at another version."""

    class FilterRequested(Message):
        """`/`: the user wants to filter the history by event type."""

    class JumpRequested(Message):
        """`t`: the user wants to jump to a time."""

    class ExportRequested(Message):
        """`E`: the user wants the whole history in a file."""

    class GraphRequested(Message):
        """`m`: the user wants the map of states and events from what is loaded."""

    class ChartRequested(Message):
        """`M`: the user wants the machine's statechart drawn."""

    class ReplayRequested(Message):
        """`R`: the user wants the history replayed against code."""

    class DivergenceOpened(Message):
        """Enter on a row the replay marked: its recorded and replayed states."""

        def __init__(self, row: Row, divergence: dict[str, Any]) -> None:
            super().__init__()
            self.row = row
            self.divergence = divergence

    class Opened(Message):
        """Enter on a transition: show all of it, and the state before it (if loaded)."""

        def __init__(self, row: Row, before: Row | None, context: str | None = None) -> None:
            super().__init__()
            self.row = row
            self.before = before
            self.context = context  # what the transition did to the context, if seen

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # The rows and the paging done on them (which page next, End, search, jump,
        # news): headless; this widget keeps the keys, the view and the drawing.
        self.pager = HistoryPager(self._cache_failed)
        self._uncache_offered = False  # as check_action says before any history
        self._bringing = False  # reading rows back above those held (`_bring_back_above`)
        self.blank_note = NOTHING_OPEN
        self._stale_note = ""
        self._lines: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        # What transitions did to the context, as this dashboard saw it (its sends and
        # live updates): history rows carry no context. Marks wait for their row.
        self._context_marks: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self.divergences: dict[tuple[str, str], dict[str, Any]] = {}  # a replay's (R)
        self._pending_marks: deque[tuple[float, str]] = deque(maxlen=MAX_PENDING_MARKS)

    # -- data ----------------------------------------------------------------------------

    @property
    def buffer(self) -> HistoryBuffer:
        """The rows as far as they are held (the pager's)."""
        return self.pager.buffer

    @property
    def from_cache(self) -> int:
        """Rows shown from the cache at the last load."""
        return self.pager.from_cache

    @property
    def has_source(self) -> bool:
        """An instance's history is shown (not the blank note)."""
        return self.pager.has_source

    @property
    def failed(self) -> str | None:
        """Why the last page failed, if it did."""
        return self.buffer.error

    @property
    def holds_whole_history(self) -> bool:
        """Every transition is held here: down to the start, none failed, and none of the
        newest kept in the cache (or only counted) while the view is far below them."""
        return self.buffer.at_end and self.has_source and not self.failed and not self.buffer.behind

    def loaded_rows(self) -> list[Row]:
        """Every row held, newest first."""
        return self.buffer.newest(self.buffer.loaded)

    @property
    def row_count(self) -> int:
        return len(self.buffer)

    def row(self, index: int) -> Row:
        return self.buffer.row(index)

    @property
    def at_end(self) -> bool:
        return self.buffer.at_end

    @property
    def loading_page(self) -> bool:
        return self.buffer.loading

    @property
    def requested_cursors(self) -> AskedCursors:
        return self.buffer.requested_cursors

    def load(
        self,
        fetch: FetchPage | None,
        blank_note: str | None = None,
        cache: CachedHistory | None = None,
    ) -> None:
        """Show another instance's history (None: none, with `blank_note`), from the top:
        what `cache` holds at once, then only the pages newer than it."""
        self.workers.cancel_group(self, "history")
        self.workers.cancel_group(self, "history-newest")
        self.blank_note = blank_note or NOTHING_OPEN
        cached = self.pager.load(fetch, cache)
        self._offer_uncache()
        # Only now: moving the cursor and the view to the top asks for what they need,
        # which must not be a first page from the server under the cached one.
        self._to_top()
        if not cached:
            self._request()
            return
        self.post_message(self.Loaded(events_by_type(self.buffer.newest(self.pager.from_cache))))
        self._catch_up(blank_note, self.pager.generation)

    def _cache_failed(self, why: str) -> None:
        self._offer_uncache()
        self.post_message(self.CacheFailed(why))

    def _offer_uncache(self) -> None:
        """K is offered only where there is a cache; the footer is redrawn only when that
        changes (redrawing it costs tens of ms, in the middle of opening an instance)."""
        offered = self.buffer.cache is not None
        if offered != self._uncache_offered:
            self._uncache_offered = offered
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "forget_cache":
            # Not offered without a cache: `smb-tui demo`, --no-cache, or one that failed.
            return self.buffer.cache is not None
        return True

    @work(group="history-newest", exit_on_error=False)
    async def _catch_up(self, note: str | None, generation: int) -> None:
        """Fetch only the pages newer than the cached ones; if they never meet them, the
        cache is not this history's any more: load from the server."""
        new = await self.pager.catch_up()
        if generation != self.pager.generation:
            return
        if new is None:
            self.load(self.pager.server_fetch, note, self.buffer.cache)
            return
        self.add_newest(new)
        if self.pager.news_again():
            self.refresh_newest()
        self.prefetch()

    def _to_top(self) -> None:
        """Forget drawn lines and put the cursor and the view on the newest row."""
        self._lines.clear()
        self.cursor = 0
        self.unseen = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._resize()

    def _request(self) -> None:
        cursor = self.pager.next_request()
        if cursor is False:
            return
        self._resize()
        self._fetch_page(cursor, self.pager.generation)

    @work(group="history", exit_on_error=False)
    async def _fetch_page(self, cursor: str | None, generation: int) -> None:
        page = await self.pager.fetch_page(cursor, generation)
        if page is None:
            if generation == self.pager.generation:
                self._resize()  # it failed: the line after the rows says why
            return
        if not get_current_worker().is_cancelled:
            self.add_page(page)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A fetch that raised what nobody expected: the pane says so, and `r` retries,
        instead of Loading… for ever."""
        if event.state != WorkerState.ERROR:
            return
        self.pager.failed_unexpectedly(safe(f"unexpected: {event.worker.error}"))
        self._resize()

    def add_page(self, page: Page[Transition]) -> None:
        rows = self.pager.add_page(page)
        self.post_message(self.Loaded(events_by_type(rows)))
        self._resize()
        self._trim_above()
        if not self.pager.seeking:
            self.prefetch()

    def prefetch(self) -> None:
        """Ask for the next page when the view or the cursor is within a screen of the end
        (not while seeking: End, a search or a time jump asks for every page itself, and a
        page asked for here first made it wait for that one); near the top of the rows held
        with rows let go above them, read some of those back."""
        if self.pager.seeking or (self.pager.why_stopped and self.buffer.filter_text):
            return  # (a search stopped for what it held: not gone on with a page at a time)
        self._bring_back_above()
        height = max(self.size.height, 1)
        nearest = max(self.scroll_offset.y + height, self.cursor)
        if nearest + height >= self.row_count:
            self._request()

    def add_newest(self, rows: Sequence[Row]) -> None:
        """New transitions at the top, newest first, without moving what is in view."""
        if not rows:
            return
        following = self.cursor == 0 and self.scroll_offset.y == 0
        shown = self.row_count
        if any(row.event_type == UPGRADE_EVENT for row in rows):
            self.post_message(self.Upgraded())
        self.buffer.add_newest(rows)
        self.post_message(self.Loaded(events_by_type(rows)))  # types another client sent
        self._mark(rows)
        if self.buffer.behind:
            if self.buffer.had_cache and self.buffer.cache is None:
                self._reload_top()  # the cache failed: the news it was to keep is lost
            self._show_position()  # counted in the border, held in the cache
            return
        added = self.row_count - shown  # under a filter, only the rows that match
        window = self._window()
        self._resize()
        if added and not following:
            self.unseen += added
            self.cursor += added
            self.scroll_to(y=self.scroll_offset.y + added, animate=False, immediate=True)
            if self.unseen > window:
                # Far below the top, news is kept in the cache and counted; Home shows it.
                self.buffer.hold_no_newer()
        self.trim(window)
        self.refresh()

    def _reload_top(self) -> None:
        """The newest rows again (from the cache, then the server), the view on them."""
        self.load(self.pager.server_fetch, self.blank_note, self.buffer.cache)

    def context_seen(self, at: float, changes: str) -> None:
        """The public context changed in the transition at `at` (epoch seconds, the
        state's `ts`): its row says `changes` when it arrives."""
        self._pending_marks.append((at, changes))

    def forget_context_marks(self) -> None:
        self._context_marks.clear()
        self._pending_marks.clear()
        self.divergences = {}  # another instance's replay

    def context_mark(self, row: Row) -> str | None:
        if not self._context_marks:  # the usual case, for every line drawn
            return None
        return self._context_marks.get((row.created_at, row.event_type, row.state))

    def _mark(self, rows: Sequence[Row]) -> None:
        """Each pending mark on the newest of `rows` at its time (within a window: an
        update's `ts` comes from the same commit as its transition); marks whose row is
        not among them wait for the next rows."""
        waiting: list[tuple[float, str]] = []
        for at, changes in self._pending_marks:
            row = next((r for r in rows if at - MARK_WINDOW <= r.at <= at + MARK_SLACK), None)
            if row is None:
                waiting.append((at, changes))
                continue
            self._context_marks[(row.created_at, row.event_type, row.state)] = changes
            while len(self._context_marks) > MAX_CONTEXT_MARKS:
                self._context_marks.popitem(last=False)
        self._pending_marks.clear()
        self._pending_marks.extend(waiting)

    def trim(self, window: int | None = None) -> None:
        """Hold the rows down to a window (`_window`) below the view, once a further
        window is held below those: the rest is in the cache, and comes back
        from it if the view goes down. With news far above the view kept in the cache
        too (`hold_no_newer`), what is held follows the view, not the updates seen."""
        height = max(self.size.height, 1)
        window = self._window() if window is None else window
        keep = max(self.cursor, self.scroll_offset.y + height) + height + window
        if self.buffer.loaded <= keep + window or self.pager.seeking:
            return
        if self.buffer.trim(keep):
            self._lines.clear()  # (its keys hold rows: of long events, each whole)
            self._resize()

    def _trim_above(self) -> None:
        """Far down a history of long events (End, or paging down), let go of the rows
        above the view past HELD_TEXT of their own text (at least MIN_WINDOW_ROWS, at
        most `window_rows`), once twice that is held: each holds its event whole, and End
        over 10,000 rows of 400 kB events held them all (8 GB). Going up reads them back
        from the cache (`_bring_back_above`); Home reads the top again. Rows of shared
        kinds hold nothing of their own: those are all kept, as before."""
        buffer = self.buffer
        if buffer.own_held <= 2 * HELD_TEXT or buffer.filter_text:
            return
        height = max(self.size.height, 1)
        top = min(self.cursor, self.scroll_offset.y)
        kept, text = 0, 0  # rows above the view kept, and their text
        while kept < min(top, self.window_rows) and (text < HELD_TEXT or kept < MIN_WINDOW_ROWS):
            text += own_text([buffer.row(top - 1 - kept)])
            kept += 1
        drop = top - kept - height
        if drop <= 0:
            return
        buffer.drop_newest(drop)
        self._lines.clear()  # (its keys hold rows: of long events, each whole)
        self.cursor -= drop
        self._resize()
        self.scroll_to(y=max(0, self.scroll_offset.y - drop), animate=False, immediate=True)
        self._show_position()

    def _bring_back_above(self) -> None:
        """Within a screen of the top of the rows held, with rows let go above them
        (`_trim_above`), read back two screens of those from the cache, the view staying
        where it is, and let go of the rows far below. Without a cache, Home reads the top."""
        buffer = self.buffer
        height = max(self.size.height, 1)
        if (
            self._bringing
            or not buffer.dropped_above
            or min(self.cursor, self.scroll_offset.y) >= height
        ):
            return
        self._bringing = True
        try:
            came = buffer.bring_back_above(max(MIN_WINDOW_ROWS, 2 * height))
            if came:
                self._resize()
                self.scroll_to(y=self.scroll_offset.y + came, animate=False, immediate=True)
                self.cursor += came
                self.trim()
        finally:
            self._bringing = False

    def _window(self) -> int:
        """`window_rows`, or fewer where the rows are long events, each held whole: as
        many as hold HELD_TEXT of their own text (at least MIN_WINDOW_ROWS)."""
        sample = self.buffer.newest(WINDOW_SAMPLE)
        own = own_text(sample)
        if not own:
            return self.window_rows
        fits = int(HELD_TEXT * len(sample) / own)
        return max(MIN_WINDOW_ROWS, min(self.window_rows, fits))

    def newest(self, count: int) -> list[Row]:
        return self.buffer.newest(count)

    def set_filter(self, text: str) -> None:
        """Show only transitions whose event type or payload contains `text`, and search
        older pages in the background until the start of history or Esc. "" shows all
        again, with the cursor still on the row it was on."""
        text = text.strip()
        if text and self.buffer.behind:
            self._reload_top()  # a search starts from the newest rows
        if not text:
            whole = self.buffer.unfiltered_index(self.cursor) if self.row_count else 0
            self.stop_seeking()
            self.buffer.set_filter("")
            self._lines.clear()
            self._resize()
            self._move(whole, middle=True)
            return
        self.buffer.set_filter(text)
        self._to_top()
        if not self.at_end and self.buffer.fetch is not None and not self.pager.seeking:
            self._seek_start(self.pager.start_seeking("search"), follow_cursor=False)
        else:
            self.prefetch()

    @property
    def searching(self) -> bool:
        return self.pager.searching

    def jump_to(self, moment: float) -> None:
        """The cursor on the first transition at or before `moment`, loading older pages
        (with progress, Esc stops) until one is loaded or the history starts."""
        if self.buffer.behind:
            self._reload_top()  # the time may be among the rows not held
        self.pager.jump_target = moment
        if self._reached(moment) or self.buffer.fetch is None:
            self._land(moment)
            return
        if self.pager.seeking:
            return  # pages are loading already; they land the cursor when done
        generation = self.pager.start_seeking("start")
        self._seek_start(generation, follow_cursor=False, until=lambda: self._reached(moment))

    def _reached(self, moment: float) -> bool:
        count = self.row_count
        return self.at_end or (count > 0 and self.row(count - 1).at <= moment)

    def _land(self, moment: float) -> None:
        self.pager.jump_target = None
        count = self.row_count
        low, high = 0, count  # rows are newest first: find the first at or before
        while low < high:
            middle = (low + high) // 2
            if self.row(middle).at <= moment:
                high = middle
            else:
                low = middle + 1
        if low == count and count:
            self.notify(
                "The history starts after that time: here is its first transition",
                markup=False,
            )
            low = count - 1
        self._step(low)
        self._move(low, middle=True)

    def action_forget_cache(self) -> None:
        cache, fetch = self.buffer.cache, self.buffer.fetch
        if cache is None or fetch is None:
            self.notify("No cached history here", markup=False)
            return
        try:
            cache.drop()
        except CacheUnavailable as error:
            self._cache_failed(str(error))
            return
        self.load(fetch, self.blank_note, cache)
        self.notify("Cached history forgotten; fetching it anew", markup=False)

    def action_export(self) -> None:
        self.post_message(self.ExportRequested())

    def action_graph(self) -> None:
        self.post_message(self.GraphRequested())

    def action_chart(self) -> None:
        self.post_message(self.ChartRequested())

    def action_replay(self) -> None:
        self.post_message(self.ReplayRequested())

    def mark_divergences(self, divergences: Sequence[dict[str, Any]]) -> None:
        """The rows a replay found different, by time and event type: marked `≠`."""
        self.divergences = {
            (str(d.get("createdAt", "")), str((d.get("event") or {}).get("type", ""))): d
            for d in divergences
            if isinstance(d, dict)
        }
        self._lines.clear()
        self.refresh()

    def divergence(self, row: Row) -> dict[str, Any] | None:
        return self.divergences.get((row.created_at, row.event_type))

    def action_jump(self) -> None:
        self.post_message(self.JumpRequested())

    def action_next_match(self) -> None:
        self._to_match(1)

    def action_previous_match(self) -> None:
        self._to_match(-1)

    def _to_match(self, step: int) -> None:
        found = self.buffer.next_match(self.cursor, step)
        if found is None:
            where = "older" if step > 0 else "newer"
            more = "" if self.at_end or step < 0 else " (End loads older pages)"
            text = safe(self.buffer.search_text)
            self.notify(f"No {where} match for {text!r} among what is loaded{more}", markup=False)
            return
        self._step(found)

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested())

    def refresh_newest(self) -> None:
        """Fetch the first page again and show what is new. Calls while one runs collapse
        into one more fetch after it, so a burst of news costs two requests, not one each."""
        if self.pager.wants_news():
            self._fetch_newest(self.pager.generation)

    @work(group="history-newest", exit_on_error=False)
    async def _fetch_newest(self, generation: int) -> None:
        news = await self.pager.fetch_news()
        if news is None or generation != self.pager.generation:
            return
        if news.reload:
            self._reload_top()
            return
        self.add_newest(news.rows)
        self.pager.news_taken(news)
        if self.pager.news_again():
            self.refresh_newest()

    # -- drawing -------------------------------------------------------------------------

    def _resize(self) -> None:
        # Rows fit the width, so no horizontal scrolling: only the height is virtual.
        height = self.row_count + 1
        if self.show_vertical_scrollbar and height >= self.virtual_size.height:
            # More rows under a scrollbar already shown: nothing else on the screen moves,
            # so no layout of the whole dashboard (15-20 ms, twice a second while End
            # loads pages); only the scrollbar learns the new height.
            self.set_reactive(TransitionHistory.virtual_size, Size(0, height))
            self.vertical_scrollbar.window_virtual_size = height
            self.vertical_scrollbar.refresh()
        else:
            self.virtual_size = Size(0, height)
        self._show_position()
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
        self._show_position()
        self.refresh()
        self.prefetch()

    def watch_unseen(self) -> None:
        self._show_position()

    @property
    def stale_note(self) -> str:
        """Said in the border while what is shown may be old (the server is away)."""
        return self._stale_note

    @stale_note.setter
    def stale_note(self, note: str) -> None:
        if note != self._stale_note:
            self._stale_note = note
            self._show_position()

    def _show_position(self) -> None:
        """`4,210 / 10,000+` in the border: where the cursor is, of how many."""
        count = self.row_count
        parts = [self.stale_note] if self.stale_note else []
        if self.buffer.filter_text:
            loaded = self.buffer.loaded
            # What was typed, as typed: a border title is markup unless given Text.
            parts.append(f"filter {safe(repr(self.buffer.filter_text))}: {count:,} of {loaded:,}")
        unseen = self.unseen + self.buffer.newer_not_held
        if unseen:
            parts.append(f"↑ {unseen:,} new (Home)")
        above = self.buffer.dropped_above  # seen, not held: counted in the position
        if above:
            parts.append(f"↑ {above:,} newer not held (Home)")
        if count:
            more = "" if self.at_end else "+"
            parts.append(f"{above + min(self.cursor + 1, count):,} / {above + count:,}{more}")
        self.border_subtitle = Text("  ".join(parts))

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.base_style
        if index < self.row_count:
            row = self.row(index)
            selected = index == self.cursor
            age = self._when(row)
            change = self.change(index)
            mark = self.context_mark(row)
            diverged = bool(self.divergences) and self.divergence(row) is not None
            key = (row, width, selected, self.has_focus, age, change, mark, diverged)
            strip = self._lines.get(key)
            if strip is None:
                strip = self._render_row(row, width, selected, age, change, mark)
                if diverged:  # the replay differs here: the first cell says so
                    marker = Strip(
                        [Segment("≠", self._style("event") + Style(bold=True, color="red"))]
                    )
                    strip = Strip.join([marker, strip.crop(1, width)])
                self._lines[key] = strip
            return strip
        if index == self.row_count:
            return self._render_note(width, self.cursor == index)
        return Strip.blank(width, base)

    def _when(self, row: Row) -> str:
        """The time column: how long ago, or the time in UTC or local time (`u`)."""
        if not row.at:
            return "?"
        if self.time_mode == "age":
            return relative_time(self.clock() - row.at)
        return clock_time(row.at, local=self.time_mode == "local")

    def action_time_mode(self) -> None:
        modes: list[TimeMode] = ["age", "utc", "local"]
        self.time_mode = modes[(modes.index(self.time_mode) + 1) % len(modes)]
        self.notify(
            {"age": "Times: how long ago", "utc": "Times: UTC", "local": "Times: local time"}[
                self.time_mode
            ],
            markup=False,
        )

    def watch_time_mode(self) -> None:
        self._lines.clear()
        self.refresh()

    def change(self, index: int) -> StateChange | None:
        """What the transition at `index` did to the state (None: the state before it is
        not loaded, or it is the first)."""
        before = self.buffer.before(index)
        if before is None:
            return None
        return state_change(before.state_value, self.row(index).state_value)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"transition-history--{name}")

    def _render_row(
        self,
        row: Row,
        width: int,
        selected: bool,
        age: str,
        change: StateChange | None,
        mark: str | None = None,
    ) -> Strip:
        line = Text(no_wrap=True, end="")
        event_width = max(8, min(28, width // 4))
        time_width = max(8, len(age))
        line.append(f"{age:>{time_width}} ", self._style("time"))
        event = Text(short_event(row.event_type), self._style("event"))
        event.truncate(event_width, overflow="ellipsis", pad=True)
        line.append_text(event)
        line.append(" ")
        # The state gets what it needs unless the payload needs it more (widths in cells).
        room = max(0, width - time_width - 1 - event_width - 1 - 1)
        payload = Text(row.payload, self._style("payload"))
        state_room = max(room // 2, room - payload.cell_len)
        if change is None:
            state = Text(f"→ {row.state}", self._style("state"))
        elif change.changed:
            state = Text(safe(change.summary(state_room)), self._style("state"))
        elif mark is None:  # the event changed no state: say so, quietly
            state = Text(f"= {row.state}", self._style("unchanged"))
        else:  # no state changed, but the context did (this dashboard saw it)
            state = Text("")
        if mark is not None:
            state.append(f"{'  ' if state else ''}{safe(mark)}", self._style("context"))
        state.truncate(min(state.cell_len, state_room), overflow="ellipsis")
        payload.truncate(max(0, room - state.cell_len), overflow="ellipsis", pad=True)
        line.append_text(payload)
        line.append(" ")
        line.append_text(state)
        if selected:
            line.stylize(self._style("cursor"))
        base = self.base_style
        line.stylize_before(base)
        return Strip(line.render(self.app.console)).crop_extend(0, width, base)

    def _counted(self) -> str:
        """`4,711 transitions`; under a filter `no match among 4,711 transitions`,
        `1 match among 4,711 transitions`, `3 matches among …`."""
        count = self.buffer.reached
        transitions = f"{count:,} transition{'s' if count != 1 else ''}"
        if not self.buffer.filter_text:
            return transitions
        matches = self.row_count
        if matches == 0:
            return f"no match among {transitions}"
        return f"{matches:,} match{'es' if matches != 1 else ''} among {transitions}"

    def _render_note(self, width: int, selected: bool) -> Strip:
        buffer = self.buffer
        if buffer.error:
            text = Text(f"⚠ {buffer.error} (r or Enter: retry)", self._style("error"))
        elif self.searching:
            matches = len(self.buffer)
            text = Text(
                f"  Searched {buffer.reached:,} transitions, {matches:,}"
                f" match{'es' if matches != 1 else ''}; searching older… (Esc stops)",
                self._style("note"),
            )
        elif self.pager.jump_target is not None and self.pager.seeking:
            target = clock_time(self.pager.jump_target)
            text = Text(
                f"  Loading page {buffer.pages + 1} to reach {target} UTC: {buffer.reached:,}"
                " transitions so far… (Esc stops)",
                self._style("note"),
            )
        elif buffer.loading and self.pager.seeking:
            text = Text(
                f"  Loading page {buffer.pages + 1}, {buffer.reached:,} of ? rows… (Esc stops)",
                self._style("note"),
            )
        elif buffer.loading:
            text = Text("  Loading more transitions…", self._style("note"))
        elif self.pager.why_stopped and buffer.filter_text:
            text = Text(f"  {self.pager.why_stopped}", self._style("error"))
        elif buffer.at_end:
            text = Text(f"  ── start of history: {self._counted()} ──", self._style("note"))
        elif buffer.fetch is None:
            text = Text(self.blank_note, self._style("note"))
        else:
            text = Text("  … more (Enter loads)", self._style("note"))
        text.no_wrap = True
        if selected:
            text.stylize(self._style("cursor"))
        base = self.base_style
        text.stylize_before(base)
        return Strip(text.render(self.app.console)).crop_extend(0, width, base)

    # -- actions -------------------------------------------------------------------------

    def _move(self, to: int, middle: bool = False) -> None:
        # The line after the last row (loading, error, start of history) is a stop too.
        self.cursor = max(0, min(to, self.row_count))
        height = max(self.size.height, 1)
        top = self.scroll_offset.y
        if middle and not top <= self.cursor < top + height:
            self.scroll_to(y=max(0, self.cursor - height // 2), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _step(self, to: int) -> None:
        self.pager.stop()  # a key that moves the cursor stops End, a search, a jump
        self._move(to)

    def action_cursor_up(self) -> None:
        self._step(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._step(self.cursor + 1)

    def action_page_up(self) -> None:
        self._step(self.cursor - max(self.size.height - 1, 1))

    def action_page_down(self) -> None:
        self._step(self.cursor + max(self.size.height - 1, 1))

    def action_first(self) -> None:
        if self.buffer.behind:
            self._reload_top()
            return
        self._step(0)
        self.trim()

    def action_last(self) -> None:
        """To the real start of history, loading every page on the way."""
        if self.at_end or self.buffer.fetch is None:
            self._step(self.row_count)
            return
        generation = self.pager.start_seeking("start")
        self._move(self.row_count)  # onto the "loading page N" line
        self._seek_start(generation)

    @work(group="history", exit_on_error=False)
    async def _seek_start(
        self,
        generation: int,
        follow_cursor: bool = True,
        until: Callable[[], bool] | None = None,
    ) -> None:
        """Load page after page to the start (or until `until()`), redrawing a few times
        a second, not once a page: the screen shows progress, and the pages come as fast
        as the client alone gets them. A search (`follow_cursor` False) leaves the cursor
        where the user put it."""
        progress = None
        async for progress in self.pager.seek(generation, until):
            if not progress.done:
                self._resize()
                if follow_cursor:
                    self._move(self.row_count)
                self._trim_above()
        if progress is None or not progress.done:
            return  # loaded again meanwhile
        if progress.event_types:
            self.post_message(self.Loaded(dict(progress.event_types)))
        self._resize()  # first: the scroll a move asks for is clamped to the rows known
        if follow_cursor:
            self._move(self.row_count)
            self._trim_above()
        if self.pager.jump_target is not None and not progress.stopped:
            self._land(self.pager.jump_target)
        self.pager.jump_target = None

    def stop_seeking(self) -> bool:
        """Esc while End loads pages: stop there. True when there was something to stop."""
        if not self.pager.stop():
            return False
        self.refresh()
        return True

    def action_open(self) -> None:
        if self.cursor < self.row_count and self.divergences:
            row = self.row(self.cursor)
            found = self.divergence(row)
            if found is not None:
                self.post_message(self.DivergenceOpened(row, found))
                return
        if self.cursor < self.row_count:
            row = self.row(self.cursor)
            self.post_message(
                self.Opened(row, self.buffer.before(self.cursor), self.context_mark(row))
            )
        elif self.buffer.error:
            self.retry()
        else:
            self._request()

    def action_copy(self) -> None:
        if self.cursor < self.row_count:
            row = self.row(self.cursor).as_json()
            copy_and_say(self, json.dumps(row, indent=2, ensure_ascii=False), "Transition")

    def retry(self) -> None:
        """Ask again for the page that failed; if it was cached rows that are gone, load
        the history again."""
        if self.pager.retry_needs_reload():
            self._reload_top()
            return
        if self.buffer.retry():
            self._request()
            self._resize()

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if index < self.row_count:
            self.cursor = index
            if event.chain >= 2:
                self.action_open()

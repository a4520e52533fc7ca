"""Paging a transition history: which page to ask for next and why, headless.

A `HistoryPager` owns the history's rows (a `HistoryBuffer`) and what is being done to
them: idle (pages come as the view needs them), loading to the start (End), a search
(`/`, loading older pages while the filter finds what it can) or a time jump (`t`,
loading until a row at or before the moment is held); and the news at the top (the
first page again, collapsed while one is on its way). One generation counter: `load`
(another instance, or the same one again) makes every answer still on its way for the
history before land nowhere.

No Textual: the widget keeps the keys, the view and the drawing, and runs these
coroutines in its workers; the pager calls back only to say a cache failed.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from smb_tui.api.errors import StateBackedError
from smb_tui.api.sending import asking_ahead, started
from smb_tui.core.history_buffer import (
    WRITES_WAITING_TEXT,
    HistoryBuffer,
    PageRows,
    events_by_type,
    rows_of,
)
from smb_tui.core.history_cache import CacheCursor, CacheUnavailable
from smb_tui.core.text import safe

if TYPE_CHECKING:
    from smb_tui.api.models import Page, Transition
    from smb_tui.core.history_buffer import Row
    from smb_tui.core.history_cache import CachedHistory, FetchPage

Mode = Literal["idle", "start", "search"]
# Seconds between progress reports while seeking: each redraws and lays the screen out
# again (20-30 ms with the dashboard's panes), so twice a second, not four times.
PROGRESS_EVERY = 0.5
# Or once the rows taken in since hold this many bytes of text of their own (long events,
# each held whole): the view lets go of rows far above it at each report, not after 0.5 s
# of pages of 40 MB.
PROGRESS_TEXT = 4_000_000
# Under a filter (a search, or End while one is on) every row brought is held (the
# matches are positions among them): over a history of long events the seek stops once
# they hold this many bytes of text of their own (about 300 MB in all), and says why,
# instead of taking the machine's memory.
SEARCH_HELD_TEXT = 128_000_000
# The event types a seek gathers (the newest of each, for the composer to suggest): as
# many as the composer keeps. A history of a million distinct types (an end user's
# events) held them all, and copied them a few times a second.
EVENT_TYPES_KEPT = 500


_held_off: list[int] = []  # the oldest generation's threshold, once per seek under way
# After the last seek, the full collection held off walks everything once (30-90 ms over
# 100,000 rows): this long after, not between a seek's end and the paint that shows it.
PUT_BACK_AFTER = 1.0


@contextmanager
def full_collections_held_off() -> Iterator[None]:
    """While a seek takes pages in: Python's full cycle collections (each walks every
    object the process holds, and they come each time what is held grows by a quarter:
    seven or eight in an End over 100,000 rows, 15-20 ms each) would find nothing to free
    in rows that are kept. The young generations are still collected (a seek's
    short-lived cycles die there). Put back from a timer thread, which outlives a loop
    that closes first."""
    with _holding:
        young, middle, oldest = gc.get_threshold()
        _held_off.append(oldest)
        gc.set_threshold(young, middle, 1 << 30)
    try:
        yield
    finally:
        timer = threading.Timer(PUT_BACK_AFTER, _put_back)
        timer.daemon = True
        timer.start()


_holding = threading.Lock()


def _put_back() -> None:
    # Whichever seek ends first, the last one to end puts back the first one's: every
    # threshold saved but the first is the held-off one.
    with _holding:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, _held_off.pop())


@dataclass
class SeekProgress:
    """Said a few times a second while seeking, and once at the end."""

    # The event types seen in the pages so far, each with its newest event seen.
    event_types: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    stopped: bool = False  # by `stop` (Esc), not by reaching the start or the target


@dataclass
class News:
    """What fetching the first page again found."""

    rows: list[Row]  # new at the top, newest first (none: nothing new, or the fetch failed)
    reload: bool = False  # over a page of news: load from the top again
    page_rows: int = 0  # the first page's rows and cursor, for `news_taken`
    cursor: str | None = None


class HistoryPager:
    """The rows of one instance's history and the paging done on them."""

    def __init__(self, cache_failed: Callable[[str], None] = lambda why: None) -> None:
        self.buffer = HistoryBuffer()
        self.server_fetch: FetchPage | None = None  # the server's pages, without the cache
        self.generation = 0
        self.mode: Mode = "idle"
        self.jump_target: float | None = None  # a time jump lands here when pages allow
        self.refreshing = False  # the first page is being fetched again (or caught up)
        self.refresh_again = False  # news came meanwhile: fetch it once more after
        self.from_cache = 0  # rows shown from the cache at the last load
        self.cache_failed = cache_failed
        self.why_stopped: str | None = None  # a search stopped short, and why

    # -- state ---------------------------------------------------------------------------

    @property
    def seeking(self) -> bool:
        """Loading page after page (End, a search or a time jump)."""
        return self.mode != "idle"

    @property
    def searching(self) -> bool:
        return self.mode == "search"

    @property
    def has_source(self) -> bool:
        return self.buffer.fetch is not None

    # -- loading -------------------------------------------------------------------------

    def load(self, fetch: FetchPage | None, cache: CachedHistory | None) -> bool:
        """Another history (or this one anew), from the top: what `cache` holds at once.
        True when it held a first page: then `catch_up` fetches only what is newer."""
        self.generation += 1
        self.server_fetch = fetch
        # Older cached rows are read as pages too, when the view needs them.
        through = cache.fetch_through(fetch) if cache is not None and fetch is not None else fetch
        self.buffer = HistoryBuffer(through, cache)
        self.buffer.cache_failed = self.cache_failed
        self.mode = "idle"
        self.why_stopped = None
        self.refreshing = self.refresh_again = False
        self.from_cache = 0
        if fetch is None or cache is None:
            return False
        try:
            cache.cache.flush()  # what this process fetched before is read back too
            cached = cache.page()
        except CacheUnavailable as error:
            self.buffer.cache_off(str(error))
            return False
        if cached is None:
            return False
        self.buffer.add_page(cached, from_cache=True)
        self.from_cache = len(cached.items)
        self.refreshing = True  # live news waits until the cache has caught up
        return True

    async def catch_up(self) -> list[Row] | None:
        """The pages newer than the cached ones, as rows (empty: the server is away; the
        next update tries again). None: they never met the cached rows, so the cache is
        not this history's any more; it is dropped, and the caller loads anew."""
        fetch, cache, generation = self.server_fetch, self.buffer.cache, self.generation
        assert fetch is not None
        if cache is None:
            self.refreshing = False
            return []
        try:
            new = await cache.newer_than_cached(fetch)
        except StateBackedError:
            new = []
        except CacheUnavailable as error:
            self.cache_failed(str(error))
            new = None
        if generation != self.generation:
            return []
        self.refreshing = False
        if new is None:
            try:
                cache.drop()
            except CacheUnavailable as error:
                self.cache_failed(str(error))
            return None
        return rows_of(new)

    def next_request(self) -> str | Literal[False] | None:
        """The cursor of the next page to ask for, marked as asked (None: the first
        page); False when none is to be asked for now."""
        cursor = self.buffer.next_request()
        if cursor is False or cursor is True:
            return False
        self.buffer.started(cursor)
        return cursor

    async def fetch_page(self, cursor: str | None, generation: int) -> Page[Transition] | None:
        """The page at `cursor`, asked for in `generation`, or None: it failed (the
        buffer says why) or the history was loaded again meanwhile."""
        fetch = self.buffer.fetch
        assert fetch is not None
        try:
            page = await fetch(cursor)
        except StateBackedError as error:
            if generation == self.generation:
                self.buffer.failed(cursor, safe(error))
                self.mode = "idle"
            return None
        return page if generation == self.generation else None

    def add_page(self, page: Page[Transition]) -> list[Row]:
        return self.buffer.add_page(page)

    def failed_unexpectedly(self, why: str) -> None:
        """A fetch raised what nobody expected: the history says so (and `r` retries)
        instead of loading for ever."""
        if self.buffer.loading and self.buffer.requested_cursors:
            self.buffer.failed(self.buffer.requested_cursors[-1], why)
        else:
            self.buffer.loading, self.buffer.error = False, why
        self.mode = "idle"
        self.refreshing = False

    def retry_needs_reload(self) -> bool:
        """The page that failed was cached rows that are gone: load the history again."""
        return self.buffer.error is not None and isinstance(self.buffer.next_cursor, CacheCursor)

    # -- news at the top -----------------------------------------------------------------

    def wants_news(self) -> bool:
        """True when the first page should be fetched again now; calls while one is on
        its way collapse into one more after it (a burst of news costs two requests)."""
        if self.buffer.fetch is None:
            return False
        if self.refreshing:
            self.refresh_again = True
            return False
        self.refreshing = True
        return True

    async def fetch_news(self) -> News | None:
        """The first page again: what is new in it (None: the history was loaded again
        meanwhile, or it failed to say: over a page of news, and a page is loading)."""
        fetch, generation = self.buffer.fetch, self.generation
        assert fetch is not None
        try:
            page = await fetch(None)
        except StateBackedError:
            page = None  # the next update tries again; the pane keeps what it has
        if generation != self.generation:
            return None
        self.refreshing = False
        if page is None:
            return News([])
        rows = PageRows(page.items)  # made as far as the news is looked for
        new = self.buffer.new_rows_in(rows)
        if new is None:  # over a page of news: from the top again, cache and all
            return News([], reload=True) if not self.buffer.loading else None
        return News(new, page_rows=len(rows), cursor=page.cursor)

    def news_taken(self, news: News) -> None:
        """After the widget added `news.rows` at the top: that page is the first now."""
        if news.page_rows:
            self.buffer.first_page_again(news.page_rows, news.cursor)

    def news_again(self) -> bool:
        """After news landed: True when more came meanwhile (fetch once more)."""
        if self.refresh_again:
            self.refresh_again = False
            return True
        return False

    # -- seeking -------------------------------------------------------------------------

    def start_seeking(self, mode: Mode) -> int:
        self.mode = mode
        self.why_stopped = None
        return self.generation

    def stop(self) -> bool:
        """Esc while pages load: stop there. True when there was something to stop."""
        if not self.seeking:
            return False
        self.mode = "idle"
        return True

    async def seek(
        self, generation: int, until: Callable[[], bool] | None = None
    ) -> AsyncIterator[SeekProgress]:
        """Fetch page after page until the start (or `until()`), each request sent before
        the page before it is taken in (as soon as that page's bytes are in, from the
        cursor at their end), so that the server and the drawing work at once. Yields
        progress a few times a second (to redraw) and once at the end."""
        drawn = time.monotonic()
        types: dict[str, Any] = {}
        buffer = self.buffer
        own_reported = buffer.own_held
        fetch = buffer.fetch
        pending: tuple[str | None, asyncio.Future[Page[Transition]]] | None = None
        early: tuple[str, asyncio.Future[Page[Transition]]] | None = None
        awaited: asyncio.Future[Page[Transition]] | None = None
        after_early: str | None = None  # the cursor the early page's bytes end with

        async def ask_early(cursor: str) -> None:
            # One page ahead of the page awaited, never a chain of them.
            nonlocal early, after_early
            if fetch is None or not self.seeking or generation != self.generation:
                return
            if early is not None and asyncio.current_task() is early[1]:
                # The page asked for early has its bytes in before the loop awaits it
                # (the page before it is still being read: the client's work after the
                # bytes awaits more than once): its next page is asked for as soon as
                # the loop takes it on, not once it is parsed.
                after_early = cursor
            elif (
                asyncio.current_task() is awaited
                and early is None
                and cursor not in buffer.requested_cursors
            ):
                await ask(cursor)

        async def ask(cursor: str) -> None:
            nonlocal early
            assert fetch is not None
            buffer.requested_cursors.append(cursor)
            # In a context that asks ahead in its turn: the request cleared its own hook.
            with asking_ahead(ask_early):
                early = (cursor, await started(fetch(cursor)))

        buffer.defer_cache_writes()  # written with each redraw, not each page
        with full_collections_held_off():  # the rows taken in are kept
            try:
                while self.seeking and generation == self.generation and fetch is not None:
                    if buffer.filter_text and buffer.own_held > SEARCH_HELD_TEXT:
                        self.why_stopped = (
                            f"Search stopped at {buffer.reached:,} transitions: their long"
                            f" events fill {buffer.own_held / 1e6:.0f} MB. Narrow"
                            " it to a time (t), or export the history (E) and search that"
                        )
                        self.mode = "idle"
                        break
                    if pending is None:
                        if buffer.loading:  # a page asked for by scrolling: let it land first
                            await asyncio.sleep(0.01)
                            continue
                        cursor = buffer.next_request()
                        if cursor is False or cursor is True:
                            break
                        buffer.started(cursor)
                        with asking_ahead(ask_early):
                            pending = (cursor, asyncio.ensure_future(fetch(cursor)))
                    cursor, request = pending
                    pending = None
                    awaited = request
                    try:
                        page = await request
                    except StateBackedError as error:
                        if generation == self.generation:
                            buffer.failed(cursor, safe(error))
                        break
                    if generation != self.generation:
                        return
                    if early is not None and early[0] == page.cursor:
                        pending, early = early, None  # asked for from this page's bytes
                        ahead, after_early = after_early, None
                        if ahead is not None and ahead not in buffer.requested_cursors:
                            await ask(ahead)
                    elif early is not None:  # the parsed page holds another cursor: not that one
                        self._forget(early, generation)
                        early = after_early = None
                    if (
                        pending is None
                        and page.cursor is not None
                        and page.cursor not in buffer.requested_cursors
                    ):
                        buffer.requested_cursors.append(page.cursor)
                        # Out before the rows are made: the server works while they are.
                        with asking_ahead(ask_early):
                            pending = (page.cursor, await started(fetch(page.cursor)))
                    rows = buffer.add_page(page)
                    if buffer.writing_text > WRITES_WAITING_TEXT:
                        await buffer.writes_caught_up(WRITES_WAITING_TEXT)
                        if generation != self.generation:
                            return
                    if len(types) < EVENT_TYPES_KEPT:
                        for event_type, event in events_by_type(rows).items():
                            types.setdefault(event_type, event)
                            if len(types) == EVENT_TYPES_KEPT:
                                break
                    buffer.loading = pending is not None
                    if until is not None and until():
                        break
                    if (
                        time.monotonic() - drawn > PROGRESS_EVERY
                        or buffer.own_held - own_reported > PROGRESS_TEXT
                    ):
                        drawn = time.monotonic()
                        buffer.write_cache()
                        yield SeekProgress(dict(types))
                        own_reported = buffer.own_held
            finally:
                buffer.write_cache(stop_deferring=True)
                for left in (pending, early):  # stopped with a page on its way: forget it
                    if left is not None:
                        self._forget(left, generation)
        if generation != self.generation:
            return
        stopped = not self.seeking
        self.mode = "idle"
        yield SeekProgress(types, done=True, stopped=stopped)

    def _forget(
        self, asked: tuple[str | None, asyncio.Future[Page[Transition]]], generation: int
    ) -> None:
        """A page asked for that will not be taken in: cancelled, no longer counted."""
        cursor, request = asked
        request.cancel()
        if request.done() and not request.cancelled():
            request.exception()  # it failed meanwhile: nobody reads that
        if generation == self.generation:
            self.buffer.requested_cursors.remove(cursor)
            self.buffer.loading = False

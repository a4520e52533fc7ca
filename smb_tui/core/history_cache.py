"""Fetched transition pages kept on disk: an instance's history only grows, so a page
once fetched need not be fetched again. No Textual here.

One SQLite file in the user cache folder holds, per API URL, org, machine and instance,
the transitions fetched (newest first, by a sequence number that grows at the top and
shrinks at the bottom), the cursor of the next older page, and whether the start of
history was reached. Rows are kept in chunks, as written: the pages a seek wrote
together (up to CHUNK_ROWS rows), a page, the news of a refresh; each chunk one table
row holding a JSON array, so that SQLite's work is per chunk written, not per
transition (it was most of what the cache cost an End). No token or key is ever written
to it. Over the size cap, the histories used longest ago go first.

Re-opening an instance shows the newest cached rows at once (one page of them, whatever
the size of what is cached) and then fetches the newest pages until it meets what it has
(`newer_than_cached`). Older cached rows are read a page at a time as the view needs
them, through a `CacheCursor`: a cursor that only this process can make, so no server
can send one. If it never does (the instance was deleted
and made again, or its history replaced), the cache of that instance is dropped, not
trusted.

Several dashboards may share the file (two panes on one incident). Every write is one
transaction that takes SQLite's write lock first (`BEGIN IMMEDIATE`) and checks, under
it, that its rows still belong where the writer thinks: an older page only below the
cursor it was fetched with, newer rows only above the row they were found above. A page
another process wrote meanwhile is not written twice, so rows are never duplicated,
reordered or lost.

Writes of fetched pages go to a thread of the cache's own (`write_behind`), on a
connection of its own, in the order they were asked for: SQLite does them while the
dashboard makes rows and draws, instead of between. Each is the same transaction, so
the thread is one more writer like another process; `flush` waits for what is queued.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from smb_tui.api.errors import StateBackedError
from smb_tui.paths import cache_dir, private_file

if TYPE_CHECKING:  # the models load with the client, once the dashboard has drawn
    from smb_tui.api.models import Page, Transition

DEFAULT_CAP_BYTES = 256 * 1024 * 1024
MAX_CATCH_UP_PAGES = 50  # newer pages to fetch looking for the cached ones before giving up
MATCH_ROWS = 5  # a run this long of the newest cached rows identifies where they are
CACHE_PAGE_ROWS = 1000  # cached rows read at a time: a screen's worth many times over
# ...or fewer, as many as hold this much text (at least one): 1,000 rows of long events
# (an end user's 400 kB each) were 400 MB read at once, on each re-open and each page.
CACHE_PAGE_TEXT = 16_000_000
CHUNK_ROWS = 2000  # rows kept together (pages written together, up to this many)

SCHEMA = """
CREATE TABLE IF NOT EXISTS histories (
    id INTEGER PRIMARY KEY,
    api_url TEXT NOT NULL, org TEXT NOT NULL, machine TEXT NOT NULL, instance TEXT NOT NULL,
    next_cursor TEXT, complete INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0, used REAL NOT NULL,
    UNIQUE (api_url, org, machine, instance)
);
CREATE TABLE IF NOT EXISTS chunks (
    history_id INTEGER NOT NULL REFERENCES histories (id) ON DELETE CASCADE,
    top INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (history_id, top)
);
"""
# A file of an earlier version held a table row a transition (`transitions`): its
# histories start again, empty (fetched again when opened), in one transaction.
EARLIER_DROPPED = """
BEGIN IMMEDIATE;
UPDATE histories SET next_cursor = NULL, complete = 0, bytes = 0
    WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'transitions');
DROP TABLE IF EXISTS transitions;
COMMIT;
"""


FetchPage = Callable[[str | None], Awaitable["Page[Transition]"]]


class CacheUnavailable(Exception):
    """The history cache cannot be read or written: the app goes on without it."""


def default_cache_path() -> Path:
    return cache_dir() / "history.sqlite3"


def _without_credentials(url: str) -> str:
    """The API URL as a cache key: a `user:password@` in it is never written down."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# One encoder, not one a row; text as JSON.stringify writes it (compact, unescaped): with
# non-ASCII escaped, a row of CJK text was six times its characters, on disk and waiting
# to be written. Rows are only ever compared as this encoder writes what was read, so
# files written escaped before match as they did.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_ENCODE_ESCAPED = json.JSONEncoder(separators=(",", ":")).encode


def _data(transition: Transition) -> str:
    """A cached row: `{"createdAt":…,"event":…,"state":…}`, compact."""
    return row_data(transition.created_at, event_state_json(transition.event, transition.state))


def event_state_json(event: Any, state: Any) -> str:
    """What follows a cached row's time: made once for the many rows of one event and
    state (the history's rows share it), not once a row."""
    return '"event":' + _ENCODE(event) + ',"state":' + _ENCODE(state)


def row_data(created_at: str, event_and_state: str) -> str:
    return '{"createdAt":' + _ENCODE(created_at) + "," + event_and_state + "}"


@dataclass(frozen=True, slots=True)
class CachedRows:
    """A page's rows as the cache writes them, newest first: one JSON array's text, made
    when the page comes in. A page waiting to be written is so one string, not one a row
    (a hundred small strings a page, held for a few tenths of a second among the rows
    kept, left 5 MB scattered over an End through 100,000 rows)."""

    text: str
    count: int

    @classmethod
    def of(cls, rows: Sequence[str]) -> CachedRows:
        return cls("[" + ",".join(rows) + "]", len(rows))

    @classmethod
    def joined(cls, pages: Sequence[CachedRows]) -> CachedRows:
        """Pages one below the other, as one."""
        full = [page.text[1:-1] for page in pages if page.count]
        return cls("[" + ",".join(full) + "]", sum(page.count for page in pages))


def _stored(rows: CachedRows) -> tuple[str, int]:
    """`rows`' text as the file keeps it, and its size in bytes (UTF-8, as SQLite keeps
    it; the cap counts these). A lone surrogate (JSON may escape one; UTF-8 has none)
    cannot be kept unescaped: that chunk is kept escaped, as files were before."""
    if not rows.count:
        return rows.text, 0
    try:
        text = rows.text
        size = len(text.encode())
    except UnicodeEncodeError:
        text = _ENCODE_ESCAPED(json.loads(rows.text))
        size = len(text)
    return text, size - 1 - rows.count  # without the brackets and commas that join them


def _in_chunks(pages: Sequence[CachedRows]) -> list[CachedRows]:
    """Pages one below the other, joined into chunks of up to CHUNK_ROWS rows (reading a
    row reads its chunk); a page longer than that is a chunk of its own."""
    chunks: list[list[CachedRows]] = [[]]
    rows = 0
    for page in pages:
        if chunks[-1] and rows + page.count > CHUNK_ROWS:
            chunks.append([])
            rows = 0
        chunks[-1].append(page)
        rows += page.count
    return [CachedRows.joined(chunk) for chunk in chunks]


def _transitions(bodies: Sequence[dict[str, Any]]) -> list[Transition]:
    from smb_tui.api.models import Transition

    made = Transition.model_construct  # validated when it was first fetched: not again
    return [made(created_at=b["createdAt"], event=b["event"], state=b["state"]) for b in bodies]


class CacheCursor(str):
    """The cursor of the cached rows below `seq`: a str, as cursors are, but one no
    server sends (a server's cursor is a plain str from JSON)."""

    seq: int
    history_id: int

    def __new__(cls, history_id: int, seq: int) -> CacheCursor:
        cursor = super().__new__(cls, f"cache:{history_id}:{seq}")
        cursor.seq, cursor.history_id = seq, history_id
        return cursor


class CacheChanged(StateBackedError):
    """The cached rows a view was paging through are gone (dropped by another process,
    or evicted): the view reloads."""

    def __init__(self) -> None:
        super().__init__("the cached history changed under this view; r reloads it")


def _into_wal(db: sqlite3.Connection, patience: float = 10) -> None:
    """WAL mode (once set, the file keeps it). SQLite answers "database is locked" at
    once, without its busy timeout, while another connection opens the file: two
    dashboards started together on a new cache, and one went on without it (30 of 90 in
    a test of 6 at a time). Asked again until `patience` seconds have passed."""
    deadline = time.monotonic() + patience
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class HistoryCache:
    """The cache file. Every method raises CacheUnavailable, never sqlite3's errors."""

    def __init__(self, path: Path | None = None, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.path = path or default_cache_path()
        self.cap_bytes = cap_bytes
        self._local = threading.local()  # each thread's connection
        self._connections: list[sqlite3.Connection] = []
        self._writer: ThreadPoolExecutor | None = None  # made at the first write behind
        self._behind: Future[None] | None = None  # the last write queued
        try:
            private_file(self.path)
            self._db.executescript(SCHEMA + EARLIER_DROPPED)
        except (OSError, sqlite3.Error) as error:
            raise CacheUnavailable(self._why(error)) from error

    @property
    def _db(self) -> sqlite3.Connection:
        """The calling thread's connection (the UI's, or the writer thread's)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._connections.append(db)
            _into_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost page is refetched
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def _why(self, error: Exception) -> str:
        return (
            f"the history cache {self.path} cannot be used ({error}); going on without it"
            " (smb-tui --clear-cache starts a new one)"
        )

    def _run(self, sql: str, *args: Any) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as error:
            raise CacheUnavailable(self._why(error)) from error

    def write_behind(self, write: Callable[[], None]) -> Future[None]:
        """Run `write` on the cache's writer thread, after every write queued before it.
        Its CacheUnavailable comes out of the future."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(
                1, thread_name_prefix="smb-tui-cache", initializer=self._writer_started
            )
        self._behind = self._writer.submit(write)
        return self._behind

    def _writer_started(self) -> None:
        # It only appends: a small page cache (SQLite's default is 2 MB a connection).
        with contextlib.suppress(sqlite3.Error):  # said by the first write, if at all
            self._db.execute("PRAGMA cache_size = -256")

    def flush(self) -> None:
        """Wait until every write queued has been done (or has failed)."""
        behind, self._behind = self._behind, None
        if behind is not None:
            behind.exception()  # waits; what failed is said by whoever queued it

    def close(self) -> None:
        """After the writes queued: the process may end with none lost."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        for db in self._connections:
            db.close()
        self._connections.clear()
        self._local = threading.local()

    def history(self, api_url: str, org: str | None, machine: str, instance: str) -> CachedHistory:
        key = (_without_credentials(api_url), org or "", machine, instance)
        self._run(
            "INSERT INTO histories (api_url, org, machine, instance, used) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET used = excluded.used",
            *key,
            time.time(),
        )
        row = self._run(
            "SELECT id FROM histories WHERE api_url = ? AND org = ? AND machine = ?"
            " AND instance = ?",
            *key,
        ).fetchone()
        return CachedHistory(self, int(row[0]))

    def total_bytes(self) -> int:
        return int(self._run("SELECT coalesce(sum(bytes), 0) FROM histories").fetchone()[0])

    def evict(self, keep: int | None = None) -> None:
        """Over the cap, drop the histories used longest ago (never `keep`)."""
        total = self.total_bytes()
        if total <= self.cap_bytes:
            return
        rows = self._run("SELECT id, bytes FROM histories ORDER BY used").fetchall()
        for history_id, size in rows:
            if total <= self.cap_bytes:
                break
            if history_id == keep:
                continue
            self._run("DELETE FROM histories WHERE id = ?", history_id)
            total -= size

    def clear(self) -> None:
        self._run("DELETE FROM histories")
        self._run("VACUUM")


@dataclass
class CachedHistory:
    """One instance's cached transitions."""

    cache: HistoryCache
    id: int

    def _state(self) -> tuple[str | None, bool, int, int]:
        """Its next cursor, whether complete, and the lowest and highest seq held (0, -1
        when none), in one statement; each bound a query of its own, so that SQLite reads
        one chunk's entry of the index for each, not the whole history."""
        found = self.cache._run(
            "SELECT next_cursor, complete,"
            " (SELECT top - count + 1 FROM chunks WHERE history_id = ?1 ORDER BY top LIMIT 1),"
            " (SELECT top FROM chunks WHERE history_id = ?1 ORDER BY top DESC LIMIT 1)"
            " FROM histories WHERE id = ?1",
            self.id,
        ).fetchone()
        next_cursor, complete, low, high = found or (None, 0, None, None)
        return (next_cursor, bool(complete), *((0, -1) if low is None else (low, high)))

    def complete(self) -> bool:
        """It holds the history to its start (the first transition is among its rows)."""
        return self._state()[1]

    def page(
        self,
        limit: int | None = CACHE_PAGE_ROWS,
        below: CacheCursor | None = None,
        text: int = CACHE_PAGE_TEXT,
    ) -> Page[Transition] | None:
        """The newest `limit` cached rows (all: None), or those below `below`, newest
        first; with a limit, no more than hold `text` characters (at least one row). Its
        cursor: a CacheCursor while more are cached below them, then the server's cursor
        of the next older page, None at the start of history. None when nothing is
        cached (or the cache cannot continue to the server)."""
        next_cursor, complete, *_ = self._state()
        if below is None and not complete and next_cursor is None:
            return None
        rows: list[tuple[int, dict[str, Any]]] = []
        more, taken = False, 0
        for seq, row, size in self._sized_rows(below):
            if limit is not None and (len(rows) == limit or (rows and taken + size > text)):
                more = True  # one more than taken: there are more below
                break
            rows.append((seq, row))
            taken += size
        if not rows:
            return None
        cursor = CacheCursor(self.id, rows[-1][0]) if more else None if complete else next_cursor
        from smb_tui.api.models import Page, Transition

        items = _transitions([row for _, row in rows])
        return Page[Transition].model_construct(items=items, cursor=cursor)

    def _rows(self, below: CacheCursor | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """The cached rows (under `below`), newest first, as (seq, the row read), read a
        chunk at a time as they are taken."""
        for seq, row, _ in self._sized_rows(below):
            yield seq, row

    def _sized_rows(
        self, below: CacheCursor | None = None
    ) -> Iterator[tuple[int, dict[str, Any], int]]:
        """As `_rows`, with the characters of text each row took (its chunk's share)."""
        at = None if below is None else below.seq - 1  # the first seq wanted
        while (chunk := self._chunk(at)) is not None:
            top, count, data = chunk
            rows, size = self._read(data), len(data) // max(count, 1)
            for index in range(0 if at is None else max(0, top - at), len(rows)):
                yield top - index, rows[index], size
            at = top - count  # the seq just under this chunk

    def _read(self, data: str) -> list[dict[str, Any]]:
        """A chunk's rows; one that cannot be read (the file was changed under us, or a
        row is nested past what this stack reads back) makes the cache unavailable."""
        try:
            rows: list[dict[str, Any]] = json.loads(data)
        except (ValueError, RecursionError) as error:
            raise CacheUnavailable(self.cache._why(error)) from error
        return rows

    def _chunk(self, at: int | None) -> tuple[int, int, str] | None:
        """The chunk that holds seq `at`, or else the first below it (None: the newest)."""
        select = "SELECT top, count, data FROM chunks WHERE history_id = ?"
        if at is None:
            return self.cache._run(select + " ORDER BY top DESC LIMIT 1", self.id).fetchone()
        holding = self.cache._run(
            select + " AND top >= ? ORDER BY top LIMIT 1", self.id, at
        ).fetchone()
        if holding is not None and holding[0] - holding[1] < at:
            return holding
        return self.cache._run(
            select + " AND top < ? ORDER BY top DESC LIMIT 1", self.id, at
        ).fetchone()

    def fetch_through(self, fetch: FetchPage) -> FetchPage:
        """`fetch`, with the cached rows read in place of the server's pages wherever a
        CacheCursor says they are."""

        async def through(cursor: str | None) -> Page[Transition]:
            if isinstance(cursor, CacheCursor) and cursor.history_id == self.id:
                try:
                    page = self.page(below=cursor)
                except CacheUnavailable:
                    page = None
                if page is None:
                    raise CacheChanged()
                return page
            return await fetch(cursor)

        return through

    def cursor_below(self, top: Transition, row: Transition, depth: int) -> CacheCursor | None:
        """The cursor of the cached rows below `row`, which a view holds `depth` rows
        under `top`; None unless the cache holds both just there (another process may
        have put newer rows above `top`: they are looked through, up to a page of them)."""
        top_data, row_data = _data(top), _data(row)
        read: tuple[int, int, list[dict[str, Any]]] | None = None  # the chunk read last

        def row_at(seq: int) -> dict[str, Any] | None:
            # Rows that look alike (a server may send many) are looked up in the chunk
            # read for the one before, not read again each.
            nonlocal read
            if read is None or not read[0] - read[1] < seq <= read[0]:
                chunk = self._chunk(seq)
                if chunk is None:
                    return None
                read = (chunk[0], chunk[1], self._read(chunk[2]))
            chunk_top, count, rows = read
            return rows[chunk_top - seq] if chunk_top - count < seq <= chunk_top else None

        # Taken as read, a chunk at a time: the newest row is nearly always `top` (reading
        # CACHE_PAGE_ROWS first read 1,000 rows of long events, 400 MB, for each trim).
        for seq, held in itertools.islice(self._rows(), CACHE_PAGE_ROWS):
            if _ENCODE(held) != top_data:
                continue
            found = row_at(seq - depth)
            if found is not None and _ENCODE(found) == row_data:
                return CacheCursor(self.id, seq - depth)
        return None

    def newest(self, count: int) -> list[str]:
        """The newest `count` cached rows, as `row_data` writes them."""
        return [_ENCODE(row) for _, row in itertools.islice(self._rows(), count)]

    def add_older(
        self,
        transitions: Sequence[Transition],
        next_cursor: str | None,
        fetched_with: str | None = None,
    ) -> None:
        """A page fetched with the cursor `fetched_with` (None: the first page), below
        what is cached. Written only where it continues the cache: below the rows whose
        next cursor was `fetched_with` (or into an empty cache, for a first page);
        otherwise another process wrote it, or the cache moved on, and it is left out."""
        rows = CachedRows.of([_data(t) for t in transitions])
        self.add_older_pages([(rows, next_cursor, fetched_with)])

    def add_older_pages(self, pages: Sequence[tuple[CachedRows, str | None, str | None]]) -> None:
        """Pages as `add_older` takes them, their rows as `row_data` writes them, oldest
        last, in one transaction (a seek to the start writes a few times a second, not
        once a page)."""
        pages = [page for page in pages if not isinstance(page[2], CacheCursor)]
        if not pages:
            return  # read from this cache: held already
        with self._writing():
            cursor, complete, low, high = self._state()
            empty = high < low
            top = 0 if empty else low - 1  # where the first page taken goes
            taken: list[CachedRows] = []
            for rows, next_cursor, fetched_with in pages:
                if complete or (empty and fetched_with is not None):
                    break
                if not empty and (fetched_with is None or fetched_with != cursor):
                    break
                taken.append(rows)
                empty = empty and not rows.count
                cursor, complete = next_cursor, next_cursor is None
            # The pages taken, in a few statements however many they are: each statement
            # is a wait for Python's lock on this thread.
            *whole, last = _in_chunks(taken)
            for chunk in whole:
                self._insert(top, chunk)
                top -= chunk.count
            self._insert(top, last, (cursor, complete))
        self.cache.evict(keep=self.id)

    def add_newer(self, transitions: Sequence[Transition], above: Transition | None = None) -> None:
        """Transitions newer than any cached, newest first, found directly above the
        transition `above` (the newest one the writer held). Under the lock: if another
        process already put some of them on top, only those above its top are written;
        if the top is neither, the rows are left out (the next re-open catches up)."""
        if not transitions:
            return
        with self._writing():
            *_, low, high = self._state()
            if high < low:
                return  # nothing cached to put them above: the next page fetched starts it
            [top] = self.newest(1)
            fresh = [_data(t) for t in transitions]
            if above is not None and top != _data(above):
                if top not in fresh:
                    return
                fresh = fresh[: fresh.index(top)]
            self._insert(high + len(fresh), CachedRows.of(fresh))
        self.cache.evict(keep=self.id)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction holding SQLite's write lock from its start: what is read in it
        is still true when its rows are written, whatever other processes do."""
        db = None
        try:
            db = self.cache._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if db.in_transaction:  # SQLite rolls back itself on some errors (a full disk)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as error:
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise CacheUnavailable(self.cache._why(error)) from error

    def _insert(
        self, top: int, rows: CachedRows, below: tuple[str | None, bool] | None = None
    ) -> None:
        """`rows` at seq `top`, `top - 1`, ...: one chunk, one statement (a thread writing
        lets go of Python's lock once, not once a row, and SQLite's work is per chunk,
        not per row); then, in one more, the bytes they add, the time, and when given
        `below`: the cursor of the rows below them and whether those are the start of
        history."""
        text, size = _stored(rows)
        if rows.count:
            self.cache._db.execute(
                "INSERT INTO chunks (history_id, top, count, data) VALUES (?, ?, ?, ?)",
                (self.id, top, rows.count, text),
            )
        if below is not None:
            cursor, complete = below
            self.cache._db.execute(
                "UPDATE histories SET bytes = bytes + ?, used = ?, next_cursor = ?,"
                " complete = ? WHERE id = ?",
                (size, time.time(), cursor, int(complete), self.id),
            )
        elif rows.count:
            self.cache._db.execute(
                "UPDATE histories SET bytes = bytes + ?, used = ? WHERE id = ?",
                (size, time.time(), self.id),
            )

    def drop(self) -> None:
        """Forget this instance's cached transitions (they cannot be trusted), after the
        writes queued for them: none lands after it."""
        self.cache.flush()
        self.cache._run("DELETE FROM chunks WHERE history_id = ?", self.id)
        self.cache._run(
            "UPDATE histories SET next_cursor = NULL, complete = 0, bytes = 0 WHERE id = ?",
            self.id,
        )

    async def newer_than_cached(
        self, fetch: FetchPage, max_pages: int = MAX_CATCH_UP_PAGES
    ) -> list[Transition] | None:
        """The transitions newer than the cached ones, newest first, fetching newest
        pages until it meets the newest cached run. None: it never did (the history was
        replaced, or too much is new): drop the cache and fetch anew."""
        top = self.newest(MATCH_ROWS)
        if not top:
            return None
        new: list[Transition] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = await fetch(cursor)
            keys = [_data(t) for t in page.items]
            for start in range(len(keys)):
                window = keys[start : start + len(top)]
                if window == top[: len(window)]:
                    return new + list(page.items[:start])
            new.extend(page.items)
            if page.cursor is None:
                return None  # the start of history, and the cached rows were not in it
            cursor = page.cursor
        return None


__all__ = [
    "CacheChanged",
    "CacheCursor",
    "CacheUnavailable",
    "CachedHistory",
    "CachedRows",
    "FetchPage",
    "HistoryCache",
    "default_cache_path",
]

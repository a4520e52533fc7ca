"""The history cache: painted at once on re-opening, topped up with only the newer pages,
and dropped, not trusted, when the server's history is not the one it kept."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from smb_tui.api.models import Transition
from smb_tui.api.wire import delete_confirmation
from smb_tui.core import history_buffer, history_cache, history_pager
from smb_tui.core.history_buffer import WRITE_PAGES_TOGETHER, own_text
from smb_tui.core.history_cache import CACHE_PAGE_ROWS, CacheCursor, HistoryCache
from smb_tui.core.keys import LocalKey
from smb_tui.local.server import ServerThread
from smb_tui.tui.screens.dashboard import DashboardScreen
from smb_tui.tui.screens.modals import ExportHistory
from smb_tui.tui.widgets import transition_history
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.conftest import client, free_port, start_server, unique
from tests.conftest import history as fetch_all
from tests.http_log import logged_requests
from tests.tui.helpers import make_app, wait_for


def rows_of(history: TransitionHistory) -> list[dict[str, object]]:
    return [history.row(i).as_json() for i in range(history.row_count)]


async def settled(pilot: Pilot[None], history: TransitionHistory, timeout: float = 15) -> None:
    await wait_for(
        pilot,
        lambda: history.at_end and not history.loading_page and not history.pager.refreshing,
        timeout=timeout,
        what="the history to settle",
    )


async def cached_to_the_start(server: ServerThread, slug: str, cache: Path) -> int:
    """counter/`slug` opened with `cache`, End pressed, closed once the start of history is
    reached: every page of it is cached. How many rows the opening read from the cache."""
    app = make_app(server, "counter", slug, cache_path=cache)
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count > 0)
        history.focus()
        await pilot.press("end")
        await settled(pilot, history, timeout=60)
        return history.from_cache


@asynccontextmanager
async def reopened_after_news(
    server: ServerThread, slug: str, cache: Path, news: int = 3
) -> AsyncIterator[tuple[Pilot[None], TransitionHistory, Any, list[dict[str, Any]]]]:
    """Counter instance `slug` opened again on `cache` once another client has sent it
    `news` events, settled: its pilot, history, the requests it made (logged) and the
    server's rows of it."""
    with client(server) as http:
        send(http, slug, news)
        fresh = fetch_all(http, "counter", slug)
    app = make_app(server, "counter", slug, cache_path=cache)
    with logged_requests() as sent:
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await settled(pilot, history)
            yield pilot, history, sent, fresh


def send(http: httpx.Client, slug: str, count: int) -> None:
    for n in range(count):
        event = {"type": "increment", "n": n}
        http.post(f"/machines/counter/i/{slug}/events", json={"event": event})


async def test_cached_history_equals_a_fresh_fetch_through_news_recreation_and_replacement(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache" / "history.sqlite3"
    port, key = free_port(), LocalKey.generate()
    with start_server(tmp_path / "one", port=port, key=key, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "kept"})
            send(http, "kept", 60)  # 61 transitions: four pages of 20

        # First opening: End loads every page, and they are kept.
        assert await cached_to_the_start(server, "kept", cache) == 0
        assert oct(cache.stat().st_mode & 0o777) == "0o600"

        # New transitions: painted from the cache, then only the newest page fetched.
        async with reopened_after_news(server, "kept", cache) as (pilot, history, sent, fresh):
            assert history.from_cache == 61
            assert sent.count("GET", "/i/kept/events") == 1
            assert rows_of(history) == fresh
            history.focus()
            await pilot.press("K")  # forget it: fetched anew from the server
            await wait_for(
                pilot,
                lambda: sent.count("GET", "/i/kept/events") >= 2 and history.row_count >= 20,
            )
            assert history.from_cache == 0
            await pilot.press("end")
            await settled(pilot, history)
            assert rows_of(history) == fresh

        # Deleted and made again under the same name: the cache is not its history.
        with client(server) as http:
            http.request(
                "DELETE",
                "/machines/counter/i/kept",
                json={
                    "dangerDataWillBeDeletedForever": True,
                    "hmacSha256OfMachineInstanceNameWithMachineNameKey": delete_confirmation(
                        "counter", "kept"
                    ),
                },
            )
            http.post("/machines/counter", json={"slug": "kept"})
            send(http, "kept", 2)
            fresh = fetch_all(http, "counter", "kept")
        app = make_app(server, "counter", "kept", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await settled(pilot, history)
            assert rows_of(history) == fresh
            assert len(fresh) == 3

    # The same URL, another server whose history of that instance is another one.
    with start_server(tmp_path / "two", port=port, key=key, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "kept"})
            send(http, "kept", 30)
            fresh = fetch_all(http, "counter", "kept")
        app = make_app(server, "counter", "kept", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            history.focus()
            await pilot.press("end")
            await settled(pilot, history)
            assert rows_of(history) == fresh
        kept = HistoryCache(cache).history(server.base_url, None, "counter", "kept").page()
        assert kept is not None
        assert [t.event for t in kept.items] == [row["event"] for row in fresh]


async def test_text_is_cached_unescaped_and_caches_written_escaped_still_match(
    tmp_path: Path,
) -> None:
    """Rows are kept as JSON.stringify writes them: é, ☃ and CJK as themselves (escaped,
    CJK took six times its characters), the size counted in UTF-8 bytes. A file written
    escaped, as before, still matches: re-opened with news, its rows are used, not
    fetched again."""
    cache = tmp_path / "cache" / "history.sqlite3"
    texts = ["é ☃ 😀", "漢字かな交じり文" * 3, "plain"]
    with start_server(tmp_path, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "text"}).raise_for_status()
            for n in range(40):
                event = {"type": "increment", "note": texts[n % 3]}
                http.post("/machines/counter/i/text/events", json={"event": event})
        await cached_to_the_start(server, "text", cache)
        with sqlite3.connect(cache) as db:
            chunks = db.execute("SELECT rowid, count, data FROM chunks").fetchall()
            (cached_bytes,) = db.execute("SELECT bytes FROM histories").fetchone()
        kept = "".join(data for _, _, data in chunks)
        assert "漢字かな交じり文" in kept and "é ☃ 😀" in kept and "\\u" not in kept
        assert cached_bytes == sum(len(data.encode()) - 1 - count for _, count, data in chunks)
        # Written escaped, as files were before.
        with sqlite3.connect(cache) as db:
            for rowid, _, data in chunks:
                escaped = json.dumps(json.loads(data), separators=(",", ":"))
                db.execute("UPDATE chunks SET data = ? WHERE rowid = ?", (escaped, rowid))
        async with reopened_after_news(server, "text", cache) as (_, history, sent, fresh):
            assert history.from_cache == 41
            assert sent.count("GET", "/i/text/events") == 1
            assert rows_of(history) == fresh


async def test_a_corrupt_cache_is_said_and_the_history_still_shows(
    server: ServerThread, tmp_path: Path
) -> None:
    cache = tmp_path / "history.sqlite3"
    cache.write_bytes(os.urandom(4096))  # not a database
    app = make_app(server, "counter", "busy", cache_path=cache)
    async with app.run_test(size=(100, 30)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100, what="the history, uncached")
        notes = [n.message for n in app._notifications]
        assert any("cannot be used" in note and str(cache) in note for note in notes), notes
    assert cache.read_bytes()[:16] != b"SQLite format 3\x00"  # left as it was: nothing lost


async def test_a_full_disk_turns_the_cache_off_and_keeps_the_app_running(
    server: ServerThread, tmp_path: Path
) -> None:
    app = make_app(server, "counter", cache_path=tmp_path / "history.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen) and screen.cache is not None
        cache = screen.cache

        def disk_full() -> None:  # SQLite: disk full from now, on this thread's connection
            pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
            cache._db.execute(f"PRAGMA max_page_count = {pages}")

        disk_full()  # the UI's reads and writes
        cache.write_behind(disk_full).result()  # and the writer thread's
        screen.open_instance("busy")
        history = screen.query_one(TransitionHistory)
        await wait_for(pilot, lambda: history.row_count >= 100, what="the history")
        await wait_for(
            pilot,
            lambda: any("full" in n.message for n in app._notifications),
            what="the warning",
        )
        assert history.buffer.cache is None and screen.cache is None
        history.focus()
        await pilot.press(*["pagedown"] * 10)
        await wait_for(pilot, lambda: history.row_count >= 200, what="paging, uncached")


def test_over_the_cap_the_histories_used_longest_ago_go_first(tmp_path: Path) -> None:
    cache = HistoryCache(tmp_path / "history.sqlite3", cap_bytes=4000)

    def page(n: int) -> list[Transition]:
        return [
            Transition.model_validate(
                {
                    "createdAt": f"2026-11-23T10:00:{i:02d}Z",
                    "event": {"type": "x" * 90},
                    "state": "s",
                }
            )
            for i in range(n)
        ]

    old = cache.history("http://a", None, "m", "old")
    old.add_older(page(10), None)  # ~1,560 bytes
    newer = cache.history("http://a", None, "m", "newer")
    newer.add_older(page(10), None)
    assert old.page() is not None and newer.page() is not None
    third = cache.history("http://a", "org", "m", "third")
    third.add_older(page(10), None)  # over 4,000: the one used longest ago goes
    assert old.page() is None
    assert newer.page() is not None and third.page() is not None
    assert cache.total_bytes() <= 4000


def test_credentials_in_the_api_url_never_reach_the_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    cache = HistoryCache(path)
    with_secret = cache.history("https://me:s3cret-token@api.example:8443/v1", None, "m", "i")
    with_secret.add_older(
        [
            Transition.model_validate(
                {"createdAt": "2026-11-23T10:00:00Z", "event": "e", "state": "s"}
            )
        ],
        None,
    )
    cache.close()
    for name in ("history.sqlite3", "history.sqlite3-wal"):
        file = tmp_path / name
        if file.exists():
            assert b"s3cret-token" not in file.read_bytes()
    again = HistoryCache(path).history("https://api.example:8443/v1", None, "m", "i")
    assert again.page() is not None  # the same history, found without the credentials


DASHBOARD_LIKE = """
import asyncio, sys, time
from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.core.history_buffer import HistoryBuffer, Row, rows_of
from smb_tui.core import history_buffer, history_cache, history_pager
from smb_tui.core.history_cache import CACHE_PAGE_ROWS, CacheCursor, HistoryCache

base, key_id, secret, cache_path, seconds = sys.argv[1:6]
PAUSE = float(sys.argv[6]) if len(sys.argv) > 6 else 0.01  # between looks at the news

async def main():
    auth = KeyCredentials(key_id, secret, {"sub": "demo-user"})
    async with StateBackedClient(auth, base) as client:
        fetch = lambda cursor: client.list_transitions("counter", "shared", cursor)
        cache = HistoryCache(__import__("pathlib").Path(cache_path))

        async def reloaded():
            # Over a page of news since the last look: as the widget does, anew from the
            # cache and the pages newer than it (or from the server, if they never meet).
            cache.flush()
            buffer = HistoryBuffer(fetch, cache.history(base, None, "counter", "shared"))
            cached = buffer.cache.page()
            if cached is None:
                return buffer
            buffer.add_page(cached, from_cache=True)
            newer = await buffer.cache.newer_than_cached(fetch)
            if newer is None:
                buffer.cache.drop()
                return HistoryBuffer(fetch, cache.history(base, None, "counter", "shared"))
            buffer.add_newest(rows_of(newer))
            return buffer

        buffer = await reloaded()
        stop = time.monotonic() + float(seconds)
        while time.monotonic() < stop:
            # As the widget does: older pages until the start, and the news at the top.
            cursor = buffer.next_request()
            if cursor is not False:
                buffer.started(cursor)
                buffer.add_page(await fetch(cursor))
            first = [Row.of(t) for t in (await fetch(None)).items]
            new = buffer.new_rows_in(first)
            if new is None:
                buffer = await reloaded()
            elif new:
                buffer.add_newest(new)
            await asyncio.sleep(PAUSE)

asyncio.run(main())
"""


OPEN_AT = """
import sys, time
from pathlib import Path
from smb_tui.core.history_cache import CacheUnavailable, HistoryCache
while time.time() < float(sys.argv[2]):
    pass  # all at once
try:
    HistoryCache(Path(sys.argv[1])).close()
except CacheUnavailable as error:
    sys.exit(str(error))
"""


def test_dashboards_started_together_all_open_a_new_cache(tmp_path: Path) -> None:
    """Several dashboards started at the same moment on a cache not made yet: each opens
    it. One made the folder under another (FileExistsError), or found SQLite answering
    "database is locked" to WAL mode at once, without waiting: it went on without the
    cache (30 of 90 processes, 6 at a time)."""
    import subprocess
    import sys

    failed: list[str] = []
    for round_ in range(3):
        path = tmp_path / f"round{round_}" / "cache" / "history.sqlite3"
        at = str(time.time() + 1.5)  # after every process has imported what it needs
        opening = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT, str(path), at],
                cwd=Path(__file__).resolve().parents[2],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        for process in opening:
            _, error = process.communicate(timeout=60)
            if process.returncode:
                failed.append(error)
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not failed, failed


def test_two_dashboards_writing_one_cache_keep_exactly_the_servers_rows(tmp_path: Path) -> None:
    """Two panes on one incident, while events keep coming: the shared cache holds each
    of the server's transitions once, in the server's order."""
    import subprocess
    import sys

    cache_path = tmp_path / "cache" / "history.sqlite3"
    server = start_server(tmp_path / "server", page_size=10, busy_history=0)
    with server, client(server) as http:
        http.post("/machines/counter", json={"slug": "shared"})
        send(http, "shared", 40)
        arguments = [server.base_url, server.key.key_id, server.key.secret, str(cache_path)]
        dashboards = [
            subprocess.Popen(
                [sys.executable, "-c", DASHBOARD_LIKE, *arguments, "6"],
                cwd=Path(__file__).resolve().parents[2],
            )
            for _ in range(2)
        ]
        for _ in range(10):  # news while both page and refresh
            send(http, "shared", 5)
        for dashboard in dashboards:
            assert dashboard.wait(timeout=60) == 0
        expected = [(row["event"], row["state"]) for row in fetch_all(http, "counter", "shared")]
    cache = HistoryCache(cache_path)
    [history_id] = [row[0] for row in cache._run("SELECT id FROM histories").fetchall()]
    cached = cache.history(server.base_url, None, "counter", "shared").page()
    assert cached is not None and cached.cursor is None  # the start of history was reached
    held = [(t.event, t.state) for t in cached.items]
    assert held == expected
    assert history_id


async def test_reopening_a_large_cache_reads_one_page_of_it_before_the_first_paint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "history.sqlite3"
    monkeypatch.setattr(history_cache, "CHUNK_ROWS", 500)  # the bound below, under the whole
    with start_server(tmp_path, page_size=100, busy_history=3_000) as server:
        with client(server) as http:
            fresh = fetch_all(http, "counter", "busy")
        await cached_to_the_start(server, "busy", cache)
        assert len(fresh) > 2 * CACHE_PAGE_ROWS

        built, parsed = [0], [0]
        real, read = history_cache._transitions, history_cache.CachedHistory._read

        def counted(bodies: list[dict[str, Any]]) -> list[Transition]:
            built[0] += len(bodies)
            return real(bodies)

        def read_counted(self: history_cache.CachedHistory, data: str) -> list[Any]:
            rows = read(self, data)
            parsed[0] += len(rows)
            return rows

        monkeypatch.setattr(history_cache, "_transitions", counted)
        monkeypatch.setattr(history_cache.CachedHistory, "_read", read_counted)
        app = make_app(server, "counter", "busy", cache_path=cache)
        with logged_requests() as sent:
            async with app.run_test(size=(100, 30)) as pilot:
                history = app.screen.query_one(TransitionHistory)
                await wait_for(pilot, lambda: history.row_count > 0)
                assert built[0] <= CACHE_PAGE_ROWS  # one page of the cache, not all of it,
                # read from the chunks that hold it: a bound, whatever the cache holds
                assert parsed[0] <= CACHE_PAGE_ROWS + history_cache.CHUNK_ROWS
                assert history.from_cache == CACHE_PAGE_ROWS
                history.focus()
                await pilot.press("end")  # the rest comes from the cache, not the server
                await settled(pilot, history)
                assert rows_of(history) == fresh
                # The server was asked for its newest page (to catch up) and nothing more.
                assert all(isinstance(c, CacheCursor) for c in history.requested_cursors)
                assert sent.count("GET", "/i/busy/events") == 1
                assert built[0] == len(fresh)  # every cached row read once


def test_a_cached_row_reads_back_exactly_as_the_server_sent_it(tmp_path: Path) -> None:
    """Rows are kept as JSON arrays, a chunk each, and read back as values: each must
    make the very text written again (a re-open matches rows by it), whatever an end
    user put in them."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "odd")
    payloads: list[object] = [
        {"n": 1e300, "m": -0.0, "big": 2**80, "f": 0.1, "tiny": 5e-324},
        {"text": 'é\u202e"\\/\n\t\x00\x1b[31m[bold]', "emoji": "\U0001f600", "ctl": "\x9b"},
        {"same": 1, "list": [None, True, False, [], {}], "nested": {"a": {"b": {"c": [1]}}}},
        {"k" * 300: "v" * 5_000},
        {"half": "\ud800 alone"},  # no UTF-8 for it: its chunk is kept escaped
    ]
    older = [
        Transition.model_construct(
            created_at=f"2026-01-01T00:00:0{n}.000Z", event={"type": "t", **p}, state={"s": f"v{n}"}
        )
        for n, p in enumerate(payloads)
    ]
    newer = [
        Transition.model_construct(
            created_at="2026-01-02T00:00:00.000Z", event={"type": "é"}, state="ü"
        )
    ]
    held.add_older(older, None)
    held.add_newer(newer, above=older[0])
    whole = held.page(limit=None)
    assert whole is not None
    assert [t.model_dump(by_alias=True) for t in whole.items] == [
        t.model_dump(by_alias=True) for t in newer + older
    ]
    assert held.newest(len(payloads) + 1) == [history_cache._data(t) for t in newer + older]


def test_a_page_read_from_the_cache_holds_at_most_its_text_in_rows_of_long_events(
    tmp_path: Path,
) -> None:
    """A page read back is CACHE_PAGE_ROWS rows, or as many as hold `text` characters
    (at least one): 1,000 rows of 400 kB events were 400 MB read at once. Paged through
    by its cursors, every row comes back once, in order."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "long")
    rows = [
        Transition.model_construct(
            created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z",
            event={"type": "note", "n": n, "text": "x" * (20_000 if n % 7 else 200)},
            state="s",
        )
        for n in reversed(range(60))
    ]
    held.add_older(rows[:25], "c1")
    held.add_older(rows[25:], None, fetched_with="c1")
    read: list[Transition] = []
    sizes: list[int] = []
    below: CacheCursor | None = None
    while True:
        page = held.page(below=below, text=100_000)
        assert page is not None
        read.extend(page.items)
        sizes.append(len(page.items))
        if not isinstance(page.cursor, CacheCursor):
            assert page.cursor is None  # the start of history: all of it cached
            break
        below = page.cursor
    assert [t.event["n"] for t in read] == [t.event["n"] for t in rows]
    assert max(sizes) <= 6 and len(sizes) >= 10, sizes
    whole = held.page(limit=None)  # no limit, no budget: every row
    assert whole is not None and len(whole.items) == 60
    one = held.page(text=1)  # at least one row, whatever its size
    assert one is not None and len(one.items) == 1
    cache.close()


def test_finding_where_the_view_is_in_the_cache_reads_the_chunks_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trim finds the rows it keeps in the cache under the newest row: nearly always
    the cache's newest, so one chunk is read, not the newest 1,000 rows (of long events,
    400 MB parsed for each trim of a live view)."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "chunks")
    rows = [
        Transition.model_construct(
            created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z",
            event={"type": "t", "n": n},
            state="s",
        )
        for n in reversed(range(100))
    ]
    cursor = None
    for page in range(10):  # ten chunks of ten rows
        following = f"c{page + 1}" if page < 9 else None
        held.add_older(rows[page * 10 : page * 10 + 10], following, fetched_with=cursor)
        cursor = following
    read: list[int] = []
    parse = history_cache.CachedHistory._read

    def counted(self: history_cache.CachedHistory, data: str) -> list[dict[str, Any]]:
        read.append(len(data))
        return parse(self, data)

    monkeypatch.setattr(history_cache.CachedHistory, "_read", counted)
    found = held.cursor_below(rows[0], rows[5], 5)
    assert found is not None and len(read) <= 2, read
    assert held.page(1, found) is not None
    assert held.page(1, found).items[0].event == rows[6].event  # (read below the row kept)
    cache.close()


def test_appending_a_page_reads_no_row_already_held(tmp_path: Path) -> None:
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "grows")
    page = [
        Transition.model_construct(
            created_at=f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z", event={"type": "e"}, state="s"
        )
        for n in range(100)
    ]
    cursor = None
    for n in range(30):  # 3,000 rows held
        held.add_older(page, f"page-{n}", fetched_with=cursor)
        cursor = f"page-{n}"
    statements: list[str] = []
    cache._db.set_trace_callback(statements.append)
    held.add_older(page, "page-last", fetched_with=cursor)
    held.add_newer(page[:3], above=None)
    cache._db.set_trace_callback(None)
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert reads, "the trace saw the statements"
    for sql in reads:  # each a bound, a key or one row, never a scan of the rows held
        assert "LIMIT 1" in sql or "FROM histories" in sql or "LIMIT 5" in sql, sql
    whole = held.page(limit=None)
    assert whole is not None and len(whole.items) == 3_103


def test_pages_written_together_take_as_many_statements_as_one_and_stop_at_a_gap(
    tmp_path: Path,
) -> None:
    """A seek's pages are written in one transaction of a few statements, however many
    pages (each statement is a wait for Python's lock on the writer thread); the pages
    taken are those that continue the cache, up to the first that does not."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "sought")

    def rows(first: int) -> history_cache.CachedRows:
        return history_cache.CachedRows.of(
            [
                history_cache.row_data(f"t{n}", '"event":{"type":"e"},"state":"s"')
                for n in range(first, first + 10)
            ]
        )

    def statements_to_write(pages: list[tuple[history_cache.CachedRows, str, str | None]]) -> int:
        statements: list[str] = []
        cache._db.set_trace_callback(statements.append)
        held.add_older_pages(pages)
        cache._db.set_trace_callback(None)
        return len(statements)

    two = statements_to_write([(rows(0), "c1", None), (rows(10), "c2", "c1")])
    twenty = statements_to_write([(rows(10 * n), f"c{n + 1}", f"c{n}") for n in range(2, 22)])
    assert twenty == two
    # One page continues the cache, the next was fetched with another cursor: it and
    # the pages after it are left out, and the cache reads on from the page taken.
    statements_to_write(
        [(rows(220), "c23", "c22"), (rows(900), "x2", "elsewhere"), (rows(910), "x3", "x2")]
    )
    whole = held.page(limit=None)
    assert whole is not None
    assert [t.created_at for t in whole.items] == [f"t{n}" for n in range(230)]
    assert whole.cursor == "c23"
    assert held.newest(1) == [history_cache.row_data("t0", '"event":{"type":"e"},"state":"s"')]


def test_rows_read_back_across_chunks_of_every_size_from_any_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are kept in chunks (a page, pages written together, news of a row or two):
    read from any row down, and found under any row, across their edges."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "counter", "chunked")

    def made(n: int) -> Transition:
        return Transition.model_construct(
            created_at=f"t{n:03d}", event={"type": "e", "n": n}, state={"s": str(n)}
        )

    sizes, cursor, n = [1, 7, 3, 16, 1, 2], None, 100  # older pages: 100, 99, ... down
    for size in sizes:
        held.add_older([made(n - i) for i in range(size)], f"after-{n - size}", cursor)
        cursor, n = f"after-{n - size}", n - size
    held.add_newer([made(102), made(101)], above=made(100))  # news above, a chunk of two
    held.add_newer([made(103)], above=made(102))
    expected = list(range(103, n, -1))  # 103 ... 71, newest first
    whole = held.page(limit=None)
    assert whole is not None and [t.event["n"] for t in whole.items] == expected
    assert whole.cursor == cursor  # the server's, under the last row cached
    seq_of_top = held._state()[3]
    for depth in range(len(expected)):  # from every row down, a page of 5
        below = CacheCursor(held.id, seq_of_top - depth)
        page = held.page(limit=5, below=below)
        rest = expected[depth + 1 :]
        if not rest:
            assert page is None
            continue
        assert page is not None and [t.event["n"] for t in page.items] == rest[:5]
        assert page.cursor == (CacheCursor(held.id, seq_of_top - depth - 5) if rest[5:] else cursor)
        found = held.cursor_below(made(103), made(expected[depth]), depth)
        assert found is not None and found.seq == seq_of_top - depth
    assert held.cursor_below(made(103), made(90), 5) is None  # not that row there
    assert held.newest(4) == [history_cache._data(made(k)) for k in (103, 102, 101, 100)]
    # Pages written together are cut into chunks of at most CHUNK_ROWS rows.
    monkeypatch.setattr(history_cache, "CHUNK_ROWS", 25)
    pages = [
        (
            history_cache.CachedRows.of([history_cache._data(made(n - i)) for i in range(10)]),
            f"after-{n - 10}",
            f"after-{n}" if n != 70 else cursor,
        )
        for n in range(70, 10, -10)
    ]
    statements: list[str] = []
    cache._db.set_trace_callback(statements.append)
    held.add_older_pages(pages)
    cache._db.set_trace_callback(None)
    assert sum(sql.startswith("INSERT INTO chunks") for sql in statements) == 3  # 20, 20, 20
    whole = held.page(limit=None)
    assert whole is not None and [t.event["n"] for t in whole.items] == list(range(103, 10, -1))
    # A page longer than a chunk is a chunk of its own, read back whole.
    long_page = history_cache.CachedRows.of(
        [history_cache._data(made(n)) for n in range(10, 0, -1)]
    )
    monkeypatch.setattr(history_cache, "CHUNK_ROWS", 4)
    held.add_older_pages([(long_page, "after-0", "after-10")])
    whole = held.page(limit=None)
    assert whole is not None and [t.event["n"] for t in whole.items] == list(range(103, 0, -1))
    assert whole.cursor == "after-0"


@pytest.mark.parametrize(
    "data", ["not json", "[" * 100_000 + "]" * 100_000], ids=["not-json", "nested-too-deep"]
)
def test_a_chunk_that_cannot_be_read_makes_the_cache_unavailable(tmp_path: Path, data: str) -> None:
    """Changed under us, or nested past what this stack reads back: said, not raised."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    held = cache.history("http://127.0.0.1:1", None, "m", "i")
    row = Transition.model_construct(created_at="t", event={"type": "e"}, state="s")
    held.add_older([row, row], None)
    cache._db.execute("UPDATE chunks SET data = ?", (data,))
    with pytest.raises(history_cache.CacheUnavailable):
        held.page()
    with pytest.raises(history_cache.CacheUnavailable):
        held.newest(1)
    with pytest.raises(history_cache.CacheUnavailable):
        held.cursor_below(row, row, 1)


def test_a_cache_file_of_an_earlier_version_starts_its_histories_again(tmp_path: Path) -> None:
    """An earlier version kept a table row a transition: such a file is opened, its
    histories start again empty (fetched again), and it is written the new way."""
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as earlier:
        earlier.executescript(
            """
            CREATE TABLE histories (
                id INTEGER PRIMARY KEY, api_url TEXT NOT NULL, org TEXT NOT NULL,
                machine TEXT NOT NULL, instance TEXT NOT NULL, next_cursor TEXT,
                complete INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
                used REAL NOT NULL, UNIQUE (api_url, org, machine, instance));
            CREATE TABLE transitions (
                history_id INTEGER NOT NULL REFERENCES histories (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (history_id, seq)
            ) WITHOUT ROWID;
            INSERT INTO histories VALUES (1, 'http://127.0.0.1:1', '', 'm', 'i', NULL, 1, 60, 0);
            INSERT INTO transitions VALUES
                (1, 0, '{"createdAt":"t","event":{"type":"e"},"state":"s"}');
            """
        )
    earlier.close()
    cache = HistoryCache(path)
    held = cache.history("http://127.0.0.1:1", None, "m", "i")
    assert held.page() is None and cache.total_bytes() == 0
    row = Transition.model_construct(created_at="t2", event={"type": "f"}, state="s")
    held.add_older([row], None)
    again = held.page()
    assert again is not None and again.items == [row] and again.cursor is None
    cache.close()
    assert HistoryCache(path).history("http://127.0.0.1:1", None, "m", "i").page() is not None


async def test_cached_rows_dropped_by_another_dashboard_are_said_and_r_reloads(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache" / "history.sqlite3"
    with start_server(tmp_path, page_size=100, busy_history=2_500) as server:
        with client(server) as http:
            fresh = fetch_all(http, "counter", "busy")
        await cached_to_the_start(server, "busy", cache)

        app = make_app(server, "counter", "busy", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == CACHE_PAGE_ROWS)
            other = HistoryCache(cache)  # another dashboard forgets it (K)
            other.history(server.base_url, None, "counter", "busy").drop()
            other.close()
            history.focus()
            await pilot.press("end")
            await wait_for(pilot, lambda: history.buffer.error is not None)
            assert (
                "cached history changed"
                in history.render_line(history.row_count - history.scroll_offset.y).text
            )
            assert history.row_count == CACHE_PAGE_ROWS  # nothing lost, nothing invented
            await pilot.press("r")
            await wait_for(pilot, lambda: history.row_count > 0 and history.from_cache == 0)
            await pilot.press("end")
            await settled(pilot, history, timeout=60)
            assert rows_of(history) == fresh


@asynccontextmanager
async def opened_live(
    tmp_path: Path, slug: str, cache_path: Path | None
) -> AsyncIterator[tuple[ServerThread, Pilot[None], TransitionHistory]]:
    """A server with pages of 20, counter/`slug` made and the dashboard open on it, live."""
    with start_server(tmp_path, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": slug}).raise_for_status()
        app = make_app(server, "counter", slug, cache_path=cache_path)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 1 and "live" in app.sub_title)
            yield server, pilot, history


async def flood(
    pilot: Pilot[None], server: ServerThread, history: TransitionHistory, slug: str, text: str = ""
) -> list[int]:
    """200 live updates to counter/`slug`, 10 at a time (each with `text`, if any), each
    burst waited for until the history shows it; the rows held after each burst."""
    held: list[int] = []
    with client(server) as http:
        for burst in range(20):
            for n in range(10):
                event: dict[str, object] = {"type": "increment", "n": burst * 10 + n}
                if text:
                    event["text"] = text
                http.post(f"/machines/counter/i/{slug}/events", json={"event": event})
            await wait_for(
                pilot,
                lambda b=burst: history.row(0).event.get("n") == b * 10 + 9,
                what="the burst to be shown",
            )
            held.append(history.buffer.loaded)
    return held


async def test_left_open_on_a_busy_instance_it_holds_a_window_and_the_cache_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TransitionHistory, "window_rows", 30)
    cache = tmp_path / "cache" / "history.sqlite3"
    async with opened_live(tmp_path, "flood", cache) as (server, pilot, history):
        held = await flood(pilot, server, history, "flood")
        with client(server) as http:
            fresh = fetch_all(http, "counter", "flood")
        assert len(fresh) == 201
        # Held: never more than twice the window, two screens and a burst.
        assert max(held) <= 2 * 30 + 2 * history.size.height + 10, held
        assert history.row_count < len(fresh)
        # Going down brings the rest back from the cache, in the server's order.
        history.focus()
        await pilot.press("end")
        await settled(pilot, history)
        assert rows_of(history) == fresh
        assert any(isinstance(c, CacheCursor) for c in history.requested_cursors)
        # Looking down there, news trims nothing under the view.
        with client(server) as http:
            send(http, "flood", 5)
        await wait_for(pilot, lambda: history.buffer.loaded == len(fresh) + 5)
        assert history.cursor >= len(fresh)
        # Back at the top, with the cache dropped by another dashboard: nothing is
        # trimmed that the cache could not bring back.
        other = HistoryCache(cache)
        other.history(server.base_url, None, "counter", "flood").drop()
        other.close()
        await pilot.press("home")
        assert history.buffer.loaded == len(fresh) + 5


async def test_a_busy_instance_of_long_events_holds_a_window_of_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of long events are held whole, each its own: the window past the view is as
    many of them as hold HELD_TEXT of their text, not `window_rows` (5,000 rows of 300 kB
    events held 3 GB). The rest comes back from the cache as before."""
    monkeypatch.setattr(transition_history, "HELD_TEXT", 600_000)  # 30 rows of 20,000
    monkeypatch.setattr(transition_history, "MIN_WINDOW_ROWS", 10)
    cache = tmp_path / "cache" / "history.sqlite3"
    async with opened_live(tmp_path, "long", cache) as (server, pilot, history):
        assert history.window_rows == 5_000
        held = await flood(pilot, server, history, "long", text="x" * 20_000)
        assert max(held) <= 2 * 30 + 2 * history.size.height + 10, held
        buffer = history.buffer  # the text held is counted as rows come and go
        assert buffer.own_held == own_text([buffer.row(i) for i in range(buffer.loaded)])
        with client(server) as http:
            fresh = fetch_all(http, "counter", "long")
        history.focus()
        await pilot.press("end")
        await settled(pilot, history)
        assert rows_of(history) == fresh[-history.row_count :]


def assert_drawn_lines_hold_only_rows_held(history: TransitionHistory) -> None:
    """The lines drawn are kept by their row: rows let go must not stay there (2,048 of
    them, each of a long event whole, held 400 MB past the rows held)."""
    held = {id(history.buffer.row(i)) for i in range(history.buffer.loaded)}
    drawn = [key[0] for key in history._lines.keys()]  # noqa: SIM118 (LRUCache: no iteration)
    assert drawn and all(id(row) in held for row in drawn)


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
async def test_end_over_long_events_lets_go_of_the_rows_far_above_and_home_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    """End over a history of long events held every row it brought, each whole (10,000
    of 400 kB: 8 GB). Far below them, the rows above the view past HELD_TEXT of their
    text are let go, as those below are near the top: the position and the count still
    say where the view is in the whole history. Going up reads them back from the cache
    (without one, Home reads the top again)."""
    monkeypatch.setattr(transition_history, "HELD_TEXT", 400_000)  # 20 rows of 20,000
    monkeypatch.setattr(transition_history, "MIN_WINDOW_ROWS", 10)
    monkeypatch.setattr(history_pager, "PROGRESS_TEXT", 200_000)  # a report every page
    peak: list[int] = []
    trim_above = TransitionHistory._trim_above

    def watched(self: TransitionHistory) -> None:
        peak.append(self.buffer.loaded)
        trim_above(self)

    monkeypatch.setattr(TransitionHistory, "_trim_above", watched)
    cache = tmp_path / "cache" / "history.sqlite3" if cached else None
    with start_server(tmp_path, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "long"}).raise_for_status()
            for n in range(300):
                event = {"type": "increment", "n": n, "text": f"{n}" * 20_000}
                http.post("/machines/counter/i/long/events", json={"event": event})
            fresh = fetch_all(http, "counter", "long")
        app = make_app(server, "counter", "long", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 20)
            history.focus()
            await pilot.press("end")
            await settled(pilot, history, timeout=60)
            buffer = history.buffer
            # Held at most: 2 x HELD_TEXT (40 rows), a page, two screens; not 301.
            assert max(peak) <= 40 + 20 + 2 * history.size.height, peak
            assert buffer.loaded < 150 and buffer.dropped_above == len(fresh) - buffer.loaded
            assert buffer.own_held == own_text([buffer.row(i) for i in range(buffer.loaded)])
            assert rows_of(history) == fresh[-history.row_count :]
            assert_drawn_lines_hold_only_rows_held(history)
            end = history.render_line(history.row_count - history.scroll_offset.y).text
            assert f"start of history: {len(fresh)} transitions" in end
            subtitle = str(history.border_subtitle)
            assert f"{len(fresh)} / {len(fresh)}" in subtitle
            assert f"↑ {buffer.dropped_above} newer not held (Home)" in subtitle
            with client(server) as http:  # news meanwhile: counted, not held
                send(http, "long", 2)
                now = fetch_all(http, "counter", "long")
            await wait_for(pilot, lambda: history.buffer.newer_not_held == 2, what="the news")
            if cached:
                # Going up reads the rows let go back from the cache, a few screens at a
                # time, the view staying on its row; the rows far below are let go.
                held: list[int] = []
                for _ in range(100):
                    if history.cursor == 0:
                        break
                    await pilot.press("pageup")
                    held.append(history.buffer.loaded)
                    at = history.cursor
                    assert history.row(at).as_json() == fresh[history.buffer.dropped_above + at]
                assert history.cursor == 0 and not history.buffer.dropped_above, held
                assert history.row(0).as_json() == fresh[0]
                assert max(held) < 150, held
                assert_drawn_lines_hold_only_rows_held(history)
                subtitle = str(history.border_subtitle)
                assert "not held" not in subtitle and "↑ 2 new (Home)" in subtitle
            await pilot.press("home")
            await wait_for(
                pilot,
                lambda: not history.buffer.behind and history.row_count >= 20,
                what="the newest rows again",
            )
            assert history.cursor == 0 and history.row(0).as_json() == now[0]
            assert "not held" not in str(history.border_subtitle)


async def test_a_search_over_long_events_stops_at_what_it_may_hold_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search holds every row it brings (its matches are positions among them): over a
    history of long events it stops once they hold SEARCH_HELD_TEXT, says so where the
    history ends, and loads no more a page at a time behind it."""
    monkeypatch.setattr(history_pager, "SEARCH_HELD_TEXT", 1_000_000)  # 50 rows of 20,000
    with start_server(tmp_path, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "long"}).raise_for_status()
            for n in range(200):
                event = {"type": "increment", "n": n, "text": str(n).ljust(20_000, "x")}
                http.post("/machines/counter/i/long/events", json={"event": event})
        app = make_app(server, "counter", "long", cache_path=None)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 20)
            history.set_filter("increment")
            await wait_for(pilot, lambda: history.pager.why_stopped is not None, what="a stop")
            await pilot.pause(0.5)
            held = history.buffer.loaded
            assert held < 201 and not history.at_end and not history.searching
            # Stopped at the first page past the bound (a page asked ahead is let go).
            assert 1_000_000 < history.buffer.own_held <= 1_000_000 + 20 * 20_100
            end = history.render_line(history.row_count - history.scroll_offset.y).text
            assert f"Search stopped at {held:,} transitions" in end
            history.focus()
            await pilot.press("end")  # under the filter, End stops there too
            await pilot.pause(0.5)
            assert history.buffer.loaded == held
            history.set_filter("incr")  # typed on: stopped again before any page
            await pilot.pause(0.5)
            assert history.buffer.loaded == held and history.pager.why_stopped is not None


async def test_without_a_cache_a_busy_instance_holds_a_window_and_the_server_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-cache: what is held still follows the view, not the updates seen; the rows
    dropped come back from the server, from where one of its pages ended."""
    monkeypatch.setattr(TransitionHistory, "window_rows", 30)
    async with opened_live(tmp_path, "flood", None) as (server, pilot, history):
        assert history.buffer.cache is None
        held = await flood(pilot, server, history, "flood")
        with client(server) as http:
            fresh = fetch_all(http, "counter", "flood")
        assert len(fresh) == 201
        assert max(held) <= 2 * 30 + 2 * history.size.height + 20 + 10, held
        assert history.row_count < len(fresh)
        history.focus()
        await pilot.press("end")  # the rest, from the server, in its order
        await settled(pilot, history)
        assert rows_of(history) == fresh


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
async def test_reading_far_below_the_top_news_goes_to_the_cache_and_home_brings_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    """Without a cache the news is counted, not held, and Home reads it from the server."""
    monkeypatch.setattr(TransitionHistory, "window_rows", 30)
    cache = tmp_path / "cache" / "history.sqlite3" if cached else None
    with start_server(tmp_path, page_size=20) as server:
        with client(server) as http:
            http.post("/machines/counter", json={"slug": "reader"}).raise_for_status()
            send(http, "reader", 5)
        app = make_app(server, "counter", "reader", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count == 6 and "live" in app.sub_title)
            history.focus()
            await pilot.press("j", "j")  # reading the third newest: news must not move it
            looked_at = history.row(history.cursor).as_json()
            held: list[int] = []
            with client(server) as http:
                for burst in range(20):  # 200 live updates, 10 at a time
                    for n in range(10):
                        event = {"type": "increment", "n": burst * 10 + n}
                        http.post("/machines/counter/i/reader/events", json={"event": event})
                    await wait_for(
                        pilot,
                        lambda b=burst: (
                            history.unseen + history.buffer.newer_not_held == (b + 1) * 10
                        ),
                        what="the burst to be counted",
                    )
                    held.append(history.buffer.loaded)
                fresh = fetch_all(http, "counter", "reader")
            assert history.buffer.behind
            assert max(held) <= 6 + 30 + 10, held  # news held up to the window, then not
            assert history.row(history.cursor).as_json() == looked_at
            assert "↑ 200 new (Home)" in str(history.border_subtitle)
            # E now: the rows held are not the whole history (the newest are not among
            # them), so the export reads the server's; it wrote the held rows only.
            target = tmp_path / "behind.jsonl"
            await pilot.press("E")
            await wait_for(pilot, lambda: isinstance(app.screen, ExportHistory), what="form")
            app.screen.query_one("#export-path", Input).value = str(target)
            await pilot.press("enter")
            await wait_for(pilot, target.exists, what="the export")
            assert [json.loads(line) for line in target.read_text().splitlines()] == fresh
            await pilot.press("home")  # the newest, from the cache (or the server)
            if cached:
                await settled(pilot, history)
            else:
                await wait_for(
                    pilot,
                    lambda: history.row_count >= 20 and not history.loading_page,
                    what="the newest page",
                )
            assert not history.buffer.behind and history.cursor == 0
            assert history.row(0).as_json() == fresh[0]
            assert "new (Home)" not in str(history.border_subtitle)
            await pilot.press("end")
            await settled(pilot, history)
            assert rows_of(history) == fresh


async def test_a_seek_to_the_start_writes_the_cache_a_few_times_not_once_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End fetches page after page; the cache takes them together, a few times a second,
    and holds exactly the server's rows afterwards."""
    writes: list[int] = []
    threads: set[str] = set()
    write = history_cache.CachedHistory.add_older_pages

    def counted(self: history_cache.CachedHistory, pages: list[object]) -> None:
        writes.append(len(pages))
        threads.add(threading.current_thread().name)
        write(self, pages)  # type: ignore[arg-type]

    monkeypatch.setattr(history_cache.CachedHistory, "add_older_pages", counted)
    cache = tmp_path / "cache" / "history.sqlite3"
    with start_server(tmp_path, page_size=10, busy_history=600) as server:
        app = make_app(server, "counter", "busy", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 10)
            written_before = len(writes)
            history.focus()
            await pilot.press("end")
            await settled(pilot, history)
        with client(server) as http:
            fresh = fetch_all(http, "counter", "busy")
    assert sum(writes) == len(fresh) // 10  # every page was written, once...
    by_the_seek = writes[written_before:]
    assert len(by_the_seek) <= sum(by_the_seek) // 4, writes  # ...the seek's, together,
    assert max(by_the_seek) <= WRITE_PAGES_TOGETHER, writes  # ...a few pages waiting at most
    # ...and not on the UI's thread: SQLite writes while the rows are made and drawn.
    assert threads and all(name.startswith("smb-tui-cache") for name in threads), threads
    other = HistoryCache(cache)
    held = other.history(server.base_url, None, "counter", "busy").page(limit=None)
    other.close()
    assert held is not None and [t.model_dump(by_alias=True) for t in held.items] == fresh


async def test_a_seek_fetches_no_faster_than_the_cache_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a slow disk, pages waiting for the cache's writer are bounded: the seek waits
    for the writes once they hold WRITES_WAITING_TEXT (each page fetched was queued whole
    until written, however many), and the cache holds every row after."""
    monkeypatch.setattr(history_pager, "WRITES_WAITING_TEXT", 5_000)
    monkeypatch.setattr(history_buffer, "WRITE_PAGES_TOGETHER", 1)  # a write a page
    write = history_cache.CachedHistory.add_older_pages
    waiting: list[int] = []

    def slow(self: history_cache.CachedHistory, pages: list[object]) -> None:
        time.sleep(0.05)
        write(self, pages)  # type: ignore[arg-type]

    monkeypatch.setattr(history_cache.CachedHistory, "add_older_pages", slow)
    cache = tmp_path / "cache" / "history.sqlite3"
    with start_server(tmp_path, page_size=10, busy_history=300) as server:
        with client(server) as http:
            fresh = fetch_all(http, "counter", "busy")
        app = make_app(server, "counter", "busy", cache_path=cache)
        async with app.run_test(size=(100, 30)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda: history.row_count >= 10)
            add_page = history.buffer.add_page

            def watched(page: Any, from_cache: bool = False) -> Any:
                waiting.append(history.buffer.writing_text)
                return add_page(page, from_cache)

            monkeypatch.setattr(history.buffer, "add_page", watched)
            history.focus()
            await pilot.press("end")
            await settled(pilot, history, timeout=60)
            assert rows_of(history) == fresh
    page_text = len(json.dumps(fresh[:10]))  # about one page's text, as the cache holds it
    assert len(waiting) >= 25 and max(waiting) <= 5_000 + 2 * page_text, waiting
    other = HistoryCache(cache)
    held = other.history(server.base_url, None, "counter", "busy").page(limit=None)
    other.close()
    assert held is not None and [t.model_dump(by_alias=True) for t in held.items] == fresh


async def test_uncache_is_offered_only_where_there_is_a_cache(
    server: ServerThread, tmp_path: Path
) -> None:
    """K forgets the cached history: without a cache (`smb-tui demo`, --no-cache, one
    that failed) the history does not offer it."""

    def offered(app: object) -> bool:
        bindings = app.screen.active_bindings.values()  # type: ignore[attr-defined]
        return any(b.action == "forget_cache" for _, b, _, _ in bindings)

    for cache_path in (None, tmp_path / "history.sqlite3"):
        app = make_app(server, "counter", "busy", cache_path=cache_path)
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            await wait_for(pilot, lambda h=history: h.row_count >= 100, what="the history")
            history.focus()
            await pilot.pause(0.1)
            assert offered(app) is (cache_path is not None)
            if cache_path is not None:
                history.buffer.cache_off("the disk is full")  # as a failed write says
                await pilot.pause(0.1)
                assert not offered(app)


async def test_a_history_opened_from_the_cache_or_told_live_suggests_its_types(
    server: ServerThread, tmp_path: Path
) -> None:
    """The composer's suggestions and example payloads come from the rows shown, however
    they came: the cache (no page fetched for them) or another client's events."""
    cache = tmp_path / "history.sqlite3"
    slug = unique("cached-types")
    with client(server) as http:
        http.post("/machines/scratch", json={"slug": slug})
        event = {"type": "put", "key": "seen", "value": 7}
        http.post(f"/machines/scratch/i/{slug}/events", json={"event": event})
    app = make_app(server, "scratch", slug, cache_path=cache)
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await settled(pilot, history)
    app = make_app(server, "scratch", slug, cache_path=cache)
    async with app.run_test(size=(120, 40)) as pilot:
        history = app.screen.query_one(TransitionHistory)
        await settled(pilot, history)
        assert history.from_cache == 2
        event_type = app.screen.query_one("#event-type", Input)
        payload = app.screen.query_one("#payload", TextArea)
        await pilot.press("4", "p")
        await wait_for(pilot, lambda: event_type._suggestion == "put", what="put suggested")
        await pilot.press("tab")
        assert '"seen"' in str(payload.placeholder)
        with client(server) as http:
            http.post(f"/machines/scratch/i/{slug}/events", json={"event": "novel-type"})
        await wait_for(pilot, lambda: history.row_count == 3, what="the live row")
        event_type.value = "nov"
        await wait_for(
            pilot, lambda: event_type._suggestion == "novel-type", what="novel-type suggested"
        )

"""The history's paging, headless: the pager against the local server over HTTP."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence

import pytest

from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.api.models import Page, Transition, Transitions
from smb_tui.core import history_buffer, history_pager
from smb_tui.core.history_buffer import Row
from smb_tui.core.history_cache import MATCH_ROWS
from smb_tui.core.history_pager import HistoryPager
from smb_tui.local.demo import BUSY_HISTORY
from smb_tui.local.server import ServerThread
from tests.conftest import SHORT_HISTORY, client, unique
from tests.http_log import logged_requests, requests_at_each_parse


def api_of(server: ServerThread) -> StateBackedClient:
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "demo-user"})
    return StateBackedClient(credentials, server.base_url)


@pytest.fixture
async def api(server: ServerThread) -> AsyncIterator[StateBackedClient]:
    async with api_of(server) as api:
        yield api


@pytest.fixture
async def long_api(long_server: ServerThread) -> AsyncIterator[StateBackedClient]:
    """A client of the server whose counter/busy has the demo's 10,000 transitions."""
    async with api_of(long_server) as api:
        yield api


def pager_on(api: StateBackedClient, instance: str) -> HistoryPager:
    pager = HistoryPager()
    assert not pager.load(lambda c: api.list_transitions("counter", instance, c), None)
    return pager


async def first_page(pager: HistoryPager) -> None:
    cursor = pager.next_request()
    assert cursor is None  # the first page
    page = await pager.fetch_page(cursor, pager.generation)
    assert page is not None
    pager.add_page(page)


async def test_end_loads_every_page_to_the_start(long_api: StateBackedClient) -> None:
    pager = pager_on(long_api, "busy")
    with logged_requests() as sent:
        await first_page(pager)
        ends = [p async for p in pager.seek(pager.start_seeking("start"))]
    assert ends[-1].done and not ends[-1].stopped
    assert all(not p.done for p in ends[:-1])
    assert pager.buffer.at_end and pager.buffer.loaded >= BUSY_HISTORY
    assert sent.count("GET", "/i/busy/events") == pager.buffer.pages  # each page once
    assert pager.mode == "idle" and not pager.seeking
    assert {"increment", "decrement"} <= set(ends[-1].event_types)


async def test_end_asks_for_each_next_page_once_its_bytes_are_in(
    api: StateBackedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the page before it is parsed and its rows made: the server works on it
    meanwhile. Each page still asked for once, none left running after the start."""
    pager = pager_on(api, "busy")
    await first_page(pager)
    with logged_requests() as sent:
        asked_when_parsed = requests_at_each_parse(sent, "/i/busy/events", monkeypatch)
        ends = [p async for p in pager.seek(pager.start_seeking("start"))]
    assert ends[-1].done and pager.buffer.at_end and pager.buffer.loaded == SHORT_HISTORY
    assert sent.count("GET", "/i/busy/events") == pager.buffer.pages - 1  # each page once
    assert asked_when_parsed[0] == 2  # the third page asked for before the second is read
    assert all(n + 1 <= asked <= n + 2 for n, asked in enumerate(asked_when_parsed))
    assert len(pager.buffer.requested_cursors) == pager.buffer.pages
    assert not pager.buffer.loading and not pager.seeking


class ScriptedPages:
    """Pages 0, 1, 2, ... of a history, each answered when the test says: its bytes in
    (`bytes_in`: the next cursor is told to whoever asks ahead, as the client tells it),
    then parsed (`parsed`). The order in which a seek's requests, bytes and parses meet
    is a matter of microseconds against a real server; here the test sets it. Records
    which pages had been asked for when each page was parsed."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.asked: list[int] = []
        self.asked_when_parsed: dict[int, list[int]] = {}
        self._bytes = {n: asyncio.Event() for n in range(pages)}
        self._parse = {n: asyncio.Event() for n in range(pages)}

    def bytes_in(self, page: int) -> None:
        self._bytes[page].set()

    def parsed(self, page: int) -> None:
        self._parse[page].set()

    async def fetch(self, cursor: str | None) -> Page[Transition]:
        from smb_tui.api.sending import mark_sent, next_cursor_to, request_sent, taken

        page = 0 if cursor is None else int(cursor)
        ahead, sent = taken(next_cursor_to), taken(request_sent)
        self.asked.append(page)
        if sent is not None:
            mark_sent(sent)  # the request is out
        following = str(page + 1) if page + 1 < self.pages else None
        await self._bytes[page].wait()
        if ahead is not None and following is not None:
            await ahead(following)
        await self._parse[page].wait()
        self.asked_when_parsed[page] = list(self.asked)
        row = {"createdAt": "2026-12-07T03:00:00.000Z", "event": "tick", "state": "on"}
        return Page[Transition].model_construct(items=Transitions([row]), cursor=following)


async def until_asked(source: ScriptedPages, page: int) -> bool:
    for _ in range(100):
        if page in source.asked:
            return True
        await asyncio.sleep(0)
    return False


async def test_a_page_asked_for_early_asks_for_its_next_once_taken_on_if_its_bytes_came_first() -> (
    None
):
    """Page 2 was asked for from page 1's bytes, and its own bytes came while page 1 was
    still being read (the client's work after the bytes awaits more than once): page 3
    is asked for as soon as the seek takes page 2 on, before page 2 is parsed, not after
    (every other page was asked for only once parsed: a third of End's time went so)."""
    source = ScriptedPages(6)
    pager = HistoryPager()
    pager.load(source.fetch, None)
    source.bytes_in(0), source.parsed(0)
    await first_page(pager)
    seek = asyncio.ensure_future(anext(pager.seek(pager.start_seeking("start"))))
    assert await until_asked(source, 1)
    source.bytes_in(1)
    assert await until_asked(source, 2)  # from page 1's bytes, before page 1 is parsed
    source.bytes_in(2)  # page 2's bytes in first: page 3 waits until page 2 is taken on
    await asyncio.sleep(0.01)
    assert source.asked == [0, 1, 2]  # one page ahead, never a chain
    source.parsed(1)
    assert await until_asked(source, 3)
    source.parsed(2)
    for page in (3, 4, 5):
        source.bytes_in(page)
        await asyncio.sleep(0.01)
        source.parsed(page)
    progress = await seek
    assert progress.done and pager.buffer.at_end and pager.buffer.loaded == 6
    # Each page's next asked for before it was parsed, none twice.
    assert all(page + 1 in source.asked_when_parsed[page] for page in range(1, 5))
    assert source.asked == [0, 1, 2, 3, 4, 5]


async def test_stop_ends_a_seek_where_it_is(long_api: StateBackedClient) -> None:
    pager = pager_on(long_api, "busy")
    await first_page(pager)
    seek = pager.seek(pager.start_seeking("start"))
    first = asyncio.ensure_future(anext(seek))
    with logged_requests() as sent:
        while sent.count("GET") < 4:  # a few pages in (of 100)
            assert not first.done(), "the seek ended before it could be stopped"
            await asyncio.sleep(0.001)
    assert pager.stop()
    progress = await first
    while not progress.done:
        progress = await anext(seek)
    assert progress.stopped and not pager.buffer.at_end and not pager.buffer.loading
    assert 0 < pager.buffer.loaded < BUSY_HISTORY
    assert not pager.stop()  # nothing left to stop
    # Every cursor asked for is a page taken in: none of one asked for early and dropped.
    assert len(pager.buffer.requested_cursors) == pager.buffer.pages
    await asyncio.sleep(0.05)
    running = [t for t in asyncio.all_tasks() if "list_transitions" in repr(t.get_coro())]
    assert running == []


async def test_seeks_hold_full_collections_off_until_the_last_one_ends(
    long_api: StateBackedClient, api: StateBackedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a seek takes in are kept: a full cycle collection then walks every object
    held for nothing, several times an End. Held off while any seek runs, put back as it
    was however the last one ends: at the start, stopped, failed or dropped."""
    monkeypatch.setattr(history_pager, "PROGRESS_EVERY", 0)  # a progress after each page
    monkeypatch.setattr(history_pager, "PUT_BACK_AFTER", 0.05)

    async def put_back() -> tuple[int, int, int]:
        """The threshold now, and once the seeks that ended have put theirs back."""
        now = gc.get_threshold()
        await asyncio.sleep(0.1)
        return now

    for _ in range(300):  # the seeks of tests before this one, put back
        if not history_pager._held_off:
            break
        await asyncio.sleep(0.01)
    before = gc.get_threshold()
    assert before[2] < 1_000
    held_off = (*before[:2], 1 << 30)

    one, two = pager_on(long_api, "busy"), pager_on(api, "busy")
    for pager in (one, two):
        await first_page(pager)
    first = one.seek(one.start_seeking("start"))
    assert not (await anext(first)).done and gc.get_threshold() == held_off
    second = two.seek(two.start_seeking("start"))
    assert not (await anext(second)).done
    await first.aclose()  # dropped mid-seek: the other still runs
    assert await put_back() == held_off
    assert gc.get_threshold() == held_off
    assert [p async for p in second][-1].done  # to the start
    # Not at once: the full collection waits until the end is drawn.
    assert await put_back() == held_off
    assert gc.get_threshold() == before

    stopped = one.seek(one.start_seeking("start"))
    await anext(stopped)
    assert one.stop()
    assert [p async for p in stopped][-1].stopped
    await put_back()
    assert gc.get_threshold() == before

    # A page that fails ends the seek with the error said.
    pager = pager_on(api, "no-such-instance")
    failing = [p async for p in pager.seek(pager.start_seeking("start"))]
    assert failing[-1].done and pager.buffer.error
    await put_back()
    assert gc.get_threshold() == before


async def test_an_answer_for_a_history_loaded_again_lands_nowhere(
    api: StateBackedClient,
) -> None:
    pager = pager_on(api, "busy")
    cursor = pager.next_request()
    asked_in = pager.generation
    assert not pager.load(lambda c: api.list_transitions("counter", "small", c), None)
    assert await pager.fetch_page(cursor, asked_in) is None  # busy's page, not small's
    assert pager.buffer.loaded == 0
    seek = pager.seek(asked_in)
    assert [p async for p in seek] == []  # a seek of the old history ends at once


async def test_news_while_news_loads_costs_one_more_fetch(
    api: StateBackedClient, server: ServerThread
) -> None:
    slug = unique("pager-news")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug}).raise_for_status()
    pager = pager_on(api, slug)
    await first_page(pager)
    with client(server) as http:
        for _ in range(3):
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    assert pager.wants_news()
    assert not pager.wants_news() and not pager.wants_news()  # collapsed into one more
    news = await pager.fetch_news()
    assert news is not None and [r.event_type for r in news.rows] == ["increment"] * 3
    pager.buffer.add_newest(news.rows)
    pager.news_taken(news)
    assert pager.news_again() and not pager.news_again()
    assert pager.wants_news()
    again = await pager.fetch_news()
    assert again is not None and again.rows == []


async def test_news_makes_rows_of_the_new_transitions_not_of_the_whole_first_page(
    api: StateBackedClient, server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update fetches the first page again (the API has no other way to news); of
    it, only the new transitions and the run that finds the held ones are made rows: a
    hundred rows of long events made on every update kept the dashboard busy."""
    slug = unique("pager-few")
    with client(server) as http:
        http.post("/machines/counter", json={"slug": slug}).raise_for_status()
        for _ in range(120):
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    pager = pager_on(api, slug)
    await first_page(pager)
    with client(server) as http:
        for _ in range(2):
            http.post(f"/machines/counter/i/{slug}/events", json={"event": "decrement"})
    made: list[int] = []
    rows_of = history_buffer.rows_of

    def counted(transitions: Sequence[Transition]) -> list[Row]:
        made.append(len(transitions))
        return rows_of(transitions)

    monkeypatch.setattr(history_buffer, "rows_of", counted)
    monkeypatch.setattr(history_pager, "rows_of", counted)
    assert pager.wants_news()
    news = await pager.fetch_news()
    assert news is not None and [r.event_type for r in news.rows] == ["decrement"] * 2
    assert news.page_rows == 100
    assert sum(made) <= 2 + MATCH_ROWS, f"{made}: rows made of a page with 2 new"


async def test_a_seek_keeps_the_newest_event_types_only_as_many_as_suggested(
    server: ServerThread, api: StateBackedClient
) -> None:
    """A history whose every event has a type of its own (an end user's doing): a seek
    gathers the newest EVENT_TYPES_KEPT of them, each with its newest event, not all."""
    slug = unique("types")
    count = history_pager.EVENT_TYPES_KEPT + 200
    with client(server) as http:
        assert http.post("/machines/counter", json={"slug": slug}).status_code == 200
        for n in range(count):
            event = {"type": f"kind-{n:04d}", "n": n}
            assert http.post(f"/machines/counter/i/{slug}/events", json={"event": event}).is_success
    pager = pager_on(api, slug)
    await first_page(pager)
    first = pager.buffer.loaded  # the newest types, taken in before the seek
    progress = [p async for p in pager.seek(pager.start_seeking("start"))][-1]
    assert progress.done and pager.buffer.at_end and pager.buffer.loaded == count + 1
    kept = progress.event_types
    assert len(kept) == history_pager.EVENT_TYPES_KEPT
    # The newest types the seek saw, newest first, each with its own event.
    newest = count - 1 - first
    assert list(kept) == [f"kind-{n:04d}" for n in range(newest, newest - len(kept), -1)]
    assert all(kept[t]["n"] == int(t[5:]) for t in kept)

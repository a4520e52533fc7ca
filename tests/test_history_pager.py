"""The history's paging, headless: the pager against the local server over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.core.history_pager import HistoryPager
from smb_tui.local.demo import BUSY_HISTORY
from smb_tui.local.server import ServerThread
from tests.conftest import client, unique
from tests.http_log import logged_requests


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
    assert progress.stopped and not pager.buffer.at_end
    assert 0 < pager.buffer.loaded < BUSY_HISTORY
    assert not pager.stop()  # nothing left to stop


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

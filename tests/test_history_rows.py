"""A history row costs little: what rows share is held once, and the time as written only
where it cannot be made again exactly (issue 18: a million rows in tens of MB)."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smb_tui.api.models import Page, Transition, Transitions
from smb_tui.core import history_cache
from smb_tui.core.history_buffer import (
    HistoryBuffer,
    PageRows,
    Row,
    _usual_time,
    own_text,
    rows_of,
)
from smb_tui.core.history_cache import MATCH_ROWS, HistoryCache, row_data


def transition(created_at: str, event: object, state: object = "counting") -> Transition:
    return Transition.model_validate({"createdAt": created_at, "event": event, "state": state})


def test_rows_of_the_same_event_and_state_share_what_they_show() -> None:
    first = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "increment"}))
    second = Row.of(transition("2026-12-05T07:35:46.001Z", {"type": "increment"}))
    other_state = Row.of(transition("2026-12-05T07:35:46.002Z", {"type": "increment"}, "frozen"))
    assert first.kind is second.kind
    assert other_state.kind is not first.kind
    assert (first.event_type, first.state, first.payload) == ("increment", "counting", "")
    # Payloads are each row's own, shown as before.
    paid = Row.of(transition("2026-12-05T07:35:46.003Z", {"type": "pay", "amount": 3}))
    assert paid.kind is not first.kind and "amount" in paid.payload


@pytest.mark.parametrize(
    "written",
    [
        "2026-12-05T07:35:45.815Z",
        "1970-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "2106-02-07T06:28:15.999Z",
        # Not as `at` writes it back: kept as written.
        "2026-12-05T07:35:45Z",
        "2026-12-05T07:35:45.815123Z",
        "2026-12-05T07:35:45.815+01:00",
        "2026-12-05T07:35:45.815+00:00",
        "2026-12-05T07:35:45.815",
        "0001-01-01T00:00:00.001Z",
        "9999-12-31T23:59:59.999Z",
        "not a time",
    ],
)
def test_a_row_gives_its_time_back_as_the_server_wrote_it(written: str) -> None:
    row = Row.of(transition(written, {"type": "x"}))
    assert row.created_at == written
    assert row.transition().created_at == written
    assert row.as_json()["createdAt"] == written


def test_the_usual_time_is_not_held_as_text() -> None:
    row = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "x"}))
    assert type(row) is Row and not hasattr(row, "written")
    assert row.at == pytest.approx(1796456145.815)
    other = Row.of(transition("2026-12-05T07:35:45.815+01:00", {"type": "x"}))
    assert other.written == "2026-12-05T07:35:45.815+01:00"  # type: ignore[attr-defined]


def test_a_row_at_the_epoch_or_unreadable_is_still_a_row() -> None:
    for written in ("1970-01-01T00:00:00.000Z", "not a time"):
        row = Row.of(transition(written, {"type": "x"}))
        assert row and row.at == 0.0
        assert [row][0] is row and row in [row]


def test_events_with_the_same_payload_share_a_kind_as_sent() -> None:
    a = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "pay", "amount": 3}))
    b = Row.of(transition("2026-12-05T07:35:45.816Z", {"type": "pay", "amount": 3}))
    c = Row.of(transition("2026-12-05T07:35:45.817Z", {"amount": 3, "type": "pay"}))
    d = Row.of(transition("2026-12-05T07:35:45.818Z", {"type": "pay", "amount": 3.0}))
    assert a.kind is b.kind
    assert c.kind is not a.kind and list(c.event) == ["amount", "type"]  # its own order
    assert d.kind is not a.kind and d.event["amount"] == 3.0


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # A state named as another state's JSON or repr reads: two states, two kinds.
        (({"type": "go"}, '{"a": "b"}'), ({"type": "go"}, {"a": "b"})),
        (({"type": "go"}, "{'a': 'b'}"), ({"type": "go"}, {"a": "b"})),
        (({"type": "go"}, {"a": "b"}), ({"type": "go"}, {"a": {"b": {}}})),
        # An event type that reads like an event with a payload.
        (({"type": "{'type': 'go', 'n': 1}"}, "s"), ({"type": "go", "n": 1}, "s")),
        (("{'type': 'go'}", "s"), ({"type": "go"}, "s")),
        # Payloads JSON tells apart.
        (({"type": "go", "n": 1}, "s"), ({"type": "go", "n": True}, "s")),
        (({"type": "go", "n": 1}, "s"), ({"type": "go", "n": "1"}, "s")),
        (({"type": "go", "n": None}, "s"), ({"type": "go", "n": "None"}, "s")),
        (({"type": "go", "n": [1]}, "s"), ({"type": "go", "n": {"0": 1}}, "s")),
    ],
)
def test_rows_that_differ_in_what_was_sent_are_of_different_kinds(
    one: tuple[object, object], other: tuple[object, object]
) -> None:
    first = Row.of(transition("2026-12-05T07:35:45.815Z", *one))
    second = Row.of(transition("2026-12-05T07:35:45.816Z", *other))
    again = Row.of(transition("2026-12-05T07:35:45.817Z", *one))
    assert first.kind is not second.kind
    assert (first.event, first.state_value) == one and (second.event, second.state_value) == other
    assert again.kind is first.kind


def test_rows_compare_by_what_they_say() -> None:
    a = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "x", "n": 1}))
    b = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "x", "n": 1}))
    c = Row.of(transition("2026-12-05T07:35:45.815Z", {"type": "x", "n": 2}))
    assert a == b and a != c
    assert len({a, b}) == 2  # but they are two rows


def test_ten_thousand_rows_held_take_under_a_megabyte() -> None:
    """Python's own accounting of what the buffer holds, made from JSON as the client
    makes it (so that no string is shared with the test): 202 bytes a row before."""
    pages = [
        [
            {
                "createdAt": f"2026-12-05T07:{n // 6000:02d}:{n // 100 % 60:02d}.{n % 1000:03d}Z",
                "event": {"type": "increment"} if n % 10 else {"type": "decrement", "by": n % 7},
                "state": ("counting", "frozen", {"a": "b"})[n % 3],
            }
            for n in range(start, start + 100)
        ]
        for start in range(0, 10_000, 100)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        buffer = HistoryBuffer()
        for items in pages:
            buffer.add_page(
                Page[Transition](
                    items=[Transition.model_validate(item) for item in items], cursor="c"
                )
            )
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buffer.loaded == 10_000
    assert held < 1_000_000, f"{held:,} bytes for 10,000 rows"


def test_a_page_of_rows_is_what_row_of_makes_of_each() -> None:
    """`rows_of` makes the usual row without a call: each row is still the one `Row.of`
    makes (its time to the bit, its time as written, its kind), usual or not, seen
    before or not, in any order."""
    rng = random.Random(18)
    events: list[object] = [
        {"type": "increment"},
        {"type": "pay", "amount": 3},
        {"amount": 3, "type": "pay"},  # the same keys in another order: another kind
        "a bare string event",
        {"type": "deep", "x": [[[[[[1]]]]]]},
        # `{"type": ...}` alone is found by its type: only when the type is a string.
        {"type": "increment "},
        {"type": 5},
        {"type": None},
        {"type": ["a", "list"]},
        {"type": {"type": "increment"}},
        {"kind": "increment"},
        {},
    ]
    states: list[object] = ["counting", "frozen", "", "{'a': 'b'}", {"a": "b"}, {"a": {"b": "c"}}]
    times = [
        "2026-12-05T07:35:45.815Z",
        "2026-12-05T07:35:45.001Z",  # the same second: its start looked up once
        "2026-12-05T07:35:59.999Z",
        "2026-12-05T07:36:00.000Z",
        "2026-12-05T08:35:45.815Z",  # the same second in another hour
        "1969-12-31T23:59:59.999Z",
        "2026-12-05T07:35:45Z",
        "2026-12-05T07:35:45.815+00:00",
        "2026-12-05T07:35:45.8150Z",
        "2026-12-05T07:35:60.000Z",
        "2026-12-05T07:35:\u0660\u0660.000Z",
        "2026-12-05T07:35:45.815ZZ",
        "not a time",
    ]
    for _ in range(6):  # kinds and minutes not seen, then seen
        page = [
            transition(rng.choice(times), rng.choice(events), rng.choice(states))
            for _ in range(300)
        ]
        # And a page as the client reads it: its JSON objects, no model made of them.
        read = Transitions([json.loads(t.model_dump_json(by_alias=True)) for t in page])
        made, one_by_one = rows_of(page), [Row.of(t) for t in page]
        from_records = rows_of(read)
        assert read._models is None
        assert len(made) == len(one_by_one) == len(from_records)
        for row, record_row, alone, sent in zip(made, from_records, one_by_one, page, strict=True):
            for got in (row, record_row):
                assert type(got) is type(alone)
                assert float(got).hex() == float(alone).hex()
                assert got.created_at == alone.created_at == sent.created_at
                assert got.kind is alone.kind
                assert (got.event, got.state_value) == (sent.event, sent.state)
    # A string state that reads like a dict's repr is not that dict's kind.
    named = rows_of([transition("2026-12-05T07:35:45.815Z", {"type": "x"}, "{'a': 'b'}")])
    valued = rows_of([transition("2026-12-05T07:35:45.815Z", {"type": "x"}, {"a": "b"})])
    assert named[0].kind is not valued[0].kind
    assert named[0].state_value == "{'a': 'b'}" and valued[0].state_value == {"a": "b"}


def test_the_usual_times_are_read_as_datetime_reads_them() -> None:
    """The quick reading of `2026-12-05T07:36:57.054Z` gives the very float datetime
    gives, over the whole range it takes (1901 to 2106), and leaves every other form
    (or an impossible date) to the long way."""
    rng = random.Random(18)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        ms = rng.randint(-(2**31) * 1000, (2**32 - 86_400) * 1000)
        written = (epoch + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
        written = written[:-6] + "Z"
        assert _usual_time(written) == datetime.fromisoformat(written).timestamp(), written
        # Again, and another second of that minute: read from the minute already seen.
        assert _usual_time(written) == datetime.fromisoformat(written).timestamp(), written
        again = written[:17] + f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        assert _usual_time(again) == datetime.fromisoformat(again).timestamp(), again
    assert _usual_time("2026-12-05T07:00:01.000Z") is not None  # its minute seen
    for other in [
        "2026-02-30T00:00:00.000Z",
        "2026-12-05T24:00:00.000Z",
        "2026-12-05T07:60:00.000Z",
        "2026-12-05T07:00:60.000Z",
        "\u0662\u0660\u0662\u0666-12-05T07:00:00.000Z",  # digits, but not ASCII ones
        "2026-12-05T07:00:\u0660\u0660.000Z",
        "2026-12-05T07:00:00.\u0660\u0660\u0660Z",
        "2026-12-05T07:00:00.000+00:00",
        "2026-12-05T07:00:00.000",
        "2026-12-05T07:00:00.0000Z",
        "2026-12-05T07:00:00.000ZZ",
        "2026-12-05T07:00",
        "9999-12-31T23:59:59.999Z",
    ]:
        assert _usual_time(other) is None, other


@pytest.mark.parametrize(
    ("event", "state"),
    [
        ({"type": "increment"}, "counting"),
        ({"type": "pay", "amount": 3, "note": 'é ☃ \U0001f600 "quoted" \\'}, {"b": "x", "a": "y"}),
        ({"z": 1, "type": "order of keys"}, {"a": {"deep": "er"}}),
        ("a bare string event", "s"),
    ],
)
def test_a_row_is_cached_as_caches_already_on_disk_hold_it(event: object, state: object) -> None:
    """Caches hold each row as one compact JSON object (written before with non-ASCII
    escaped); rows are matched as the cache's encoder writes what it read back: a row
    written now (its kind's part made once) is that very text, so old caches still match."""
    t = transition("2026-12-05T07:35:45.815Z", event, state)
    row = Row.of(t)
    written_before = json.JSONEncoder(separators=(",", ":")).encode(
        {"createdAt": t.created_at, "event": t.event, "state": t.state}
    )
    read_back = history_cache._ENCODE(json.loads(written_before))
    assert row_data(t.created_at, row.kind.cached) == read_back
    again = Row.of(transition("2026-12-05T07:35:45.816Z", event, state))
    assert again.kind is row.kind  # made once


def _nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"in": value}
    return value


def _rows(count: int, start: int = 0) -> Page[Transition]:
    return Page[Transition](
        items=[
            transition(
                f"2026-01-01T00:{(start + i) // 60:02d}:{(start + i) % 60:02d}Z", {"type": "go"}
            )
            for i in range(count)
        ],
        cursor=f"after-{start + count}",
    )


async def test_a_cache_write_that_fails_is_said_once_and_the_rows_still_come(
    tmp_path: Path,
) -> None:
    cache = HistoryCache(tmp_path / "history.sqlite3")
    try:
        buffer = HistoryBuffer(None, cache.history("http://a", None, "m", "i"))
        said: list[str] = []
        buffer.cache_failed = said.append

        def disk_full() -> None:  # on the writer thread's connection: its writes fail
            pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
            cache._db.execute(f"PRAGMA max_page_count = {pages}")

        cache.write_behind(disk_full).result()
        buffer.add_page(_rows(100))
        buffer.add_page(_rows(100, start=100))  # queued behind the first, failing too
        cache.flush()
        for _ in range(10):  # the failure comes back onto the loop
            await asyncio.sleep(0.01)
        assert len(said) == 1 and "full" in said[0], said
        assert buffer.cache is None
        buffer.add_page(_rows(100, start=200))  # uncached from now, said no more
        assert buffer.loaded == 300 and len(said) == 1
    finally:
        cache.close()


def test_a_transition_nested_too_deep_to_cache_is_shown_and_said_once(tmp_path: Path) -> None:
    cache = HistoryCache(tmp_path / "history.sqlite3")
    try:
        history = cache.history("http://a", None, "m", "i")
        buffer = HistoryBuffer(None, history)
        said: list[str] = []
        buffer.cache_failed = said.append
        deep = transition("2026-01-01T00:00:00Z", {"type": "go", "payload": _nested(5000)})
        buffer.add_page(Page[Transition](items=[deep], cursor="next"))
        buffer.add_page(_rows(10, start=1))
        cache.flush()
        assert buffer.loaded == 11 and buffer.cache is None
        assert said == ["a transition is nested too deeply to cache; going on without"]
        assert history.page() is None  # nothing of it was written
    finally:
        cache.close()


def test_a_page_as_the_client_reads_it_is_cached_without_a_model_made(tmp_path: Path) -> None:
    """Rows and the cache's copy are made from the page's JSON objects: no Transition is
    made of them (that was half of the dashboard's work on a page), and the cache gives
    back the times as they were written, an unusual one too."""
    cache = HistoryCache(tmp_path / "history.sqlite3")
    try:
        history = cache.history("http://a", None, "m", "i")
        buffer = HistoryBuffer(None, history)
        records = [
            {"createdAt": f"2026-12-05T07:35:{n:02d}.815Z", "event": {"type": "go"}, "state": "on"}
            for n in range(50)
        ] + [{"createdAt": "2026-12-05T07:35:45+00:00", "event": "bare", "state": {"a": "b"}}]
        page = Transitions(records)
        buffer.add_page(Page[Transition].model_construct(items=page, cursor="next"))
        cache.flush()
        assert page._models is None
        back = history.page()
        assert back is not None
        assert [t.created_at for t in back.items] == [r["createdAt"] for r in records]
        assert [(t.event, t.state) for t in back.items] == [
            (r["event"], r["state"]) for r in records
        ]
    finally:
        cache.close()


def test_rows_of_long_events_hold_each_event_once_beside_what_a_search_looks_in(
    tmp_path: Path,
) -> None:
    """A long event rarely repeats, so it is its row's own kind: the row holds the event
    and the text a search looks in, and not also the text the cache writes (made when
    the row is written; with non-ASCII escaped, six times the event's size). Every row
    still reaches the cache exactly. Held: 2.0 times the events' text, where it was 5.0."""
    text = "漢字" * 10_000  # 40 kB held as Python holds it (two bytes a character)
    body = json.dumps(
        [
            {
                "createdAt": f"2026-12-05T07:35:{n:02d}.815Z",
                "event": {"type": "note", "n": n, "text": f"{n}{text}"},
                "state": "on",
            }
            for n in range(40)
        ]
    )
    cache = HistoryCache(tmp_path / "history.sqlite3")
    try:
        history = cache.history("http://a", None, "m", "i")
        gc.collect()
        tracemalloc.start()
        try:
            buffer = HistoryBuffer(None, history)
            records = json.loads(body)  # as the client reads a page: one string a text
            page = Page[Transition].model_construct(items=Transitions(records), cursor="c")
            buffer.add_page(page)
            cache.flush()
            events = sum(sys.getsizeof(record["event"]["text"]) for record in records)
            del page, records
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert held < 2.2 * events, f"{held / events:.1f} times the events' text held"
        back = history.page()
        assert back is not None
        assert [t.event for t in back.items] == [buffer.row(i).event for i in range(40)]
        assert buffer.row(39).event["text"] == f"39{text}"
        assert len(buffer.row(0).haystack) > len(text)  # searched whole
    finally:
        cache.close()


def test_pages_of_long_events_are_written_without_waiting_for_sixteen(tmp_path: Path) -> None:
    """While a seek defers the cache's writes, pages wait to be written together, sixteen
    at a time; pages of long events go as soon as 4 MB of text waits (sixteen pages of
    100 rows of 100 kB of CJK text held 320 MB on their way to the disk)."""
    text = "漢" * 600_000
    cache = HistoryCache(tmp_path / "history.sqlite3")
    try:
        history = cache.history("http://a", None, "m", "i")
        buffer = HistoryBuffer(None, history)
        buffer.defer_cache_writes()
        for n in range(4):  # two rows a page: 1.2 MB of cache text each
            records = [
                {
                    "createdAt": f"2026-12-05T07:35:{2 * n + i:02d}.815Z",
                    "event": {"type": "note", "text": f"{2 * n + i}{text}"},
                    "state": "on",
                }
                for i in range(2)
            ]
            items = Transitions(records)
            buffer.add_page(Page[Transition].model_construct(items=items, cursor=f"c{n}"))
        cache.flush()
        back = history.page()
        assert back is not None, "nothing written: all four pages still wait"
        assert len(back.items) == 8
        assert [t.event["text"][:1] for t in back.items] == [str(n) for n in range(8)]
    finally:
        cache.close()


def test_news_in_the_first_page_makes_only_the_rows_it_looks_at() -> None:
    """Finding what is new in the first page fetched again makes the new rows and the run
    that finds the ones held, not every row of the page (a hundred rows of long events,
    on each update); the rows made are those `rows_of` makes."""
    records = [
        {
            "createdAt": f"2026-12-05T07:{n // 60:02d}:{n % 60:02d}.815Z",
            "event": {"type": "note", "n": n, "text": "x" * 1000},
            "state": "on",
        }
        for n in reversed(range(110))  # newest first
    ]
    buffer = HistoryBuffer()
    buffer.add_page(Page[Transition].model_construct(items=Transitions(records[3:103]), cursor="c"))
    page = PageRows(Transitions(records[:100]))
    new = buffer.new_rows_in(page)
    assert new == rows_of(Transitions(records[:3]))
    assert page.made <= 3 + MATCH_ROWS, f"{page.made} rows made to find 3 new ones"
    whole = rows_of(Transitions(records[:100]))
    again = PageRows(Transitions(records[:100]))
    assert again[5] == whole[5] and again[-1] == whole[-1] and again[2:9] == whole[2:9]
    assert list(again) == whole and len(again) == 100


def test_the_text_a_long_row_holds_is_counted_in_the_bytes_python_holds() -> None:
    """The window of long events is as many rows as hold HELD_TEXT: counted in characters,
    a row of CJK text (two bytes a character in Python) or of emoji (four) was held three
    or four times over what a row of ASCII of the same size was."""
    at = "2026-12-07T10:00:00.000Z"
    rows = [Row.of(transition(at, {"type": "note", "text": c * 10_000})) for c in "x漢\U0001f600"]
    ascii_, cjk, emoji = (own_text([row]) for row in rows)
    assert 10_000 < ascii_ < 10_200
    assert 2 * 10_000 < cjk < 2 * 10_200 and 4 * 10_000 < emoji < 4 * 10_200
    short = Row.of(transition(at, {"type": "note", "n": 1}))
    assert own_text([short]) == 0  # a shared kind: nothing of its own

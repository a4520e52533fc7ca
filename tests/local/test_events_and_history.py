"""Sending events, settling, delayed transitions, and paging through history."""

from __future__ import annotations

import json
import sqlite3
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smb_tui.local import scheduler
from smb_tui.local.clock import ManualClock
from smb_tui.local.server import ServerThread
from tests.conftest import (
    MACHINES,
    SHORT_HISTORY,
    client,
    history,
    server_with_machines,
    start_server,
    unique,
    until,
)


def test_nested_and_parallel_state_values_tags_and_done(http: httpx.Client) -> None:
    slug = unique("cart")
    http.post("/machines/checkout", json={"slug": slug})
    send = lambda event: http.post(  # noqa: E731
        f"/machines/checkout/i/{slug}/events", json={"event": event}
    ).json()
    after_item = send({"type": "add_item", "item": "mug", "price": 8})
    assert after_item["publicContext"] == {"items": ["mug"], "total": 8}
    in_checkout = send("start_checkout")
    assert in_checkout["state"] == {
        "shopping": {"checkout": {"payment": "unpaid", "shipping": "no_address"}}
    }
    assert in_checkout["tags"] == ["in-checkout"]
    too_little = send({"type": "pay", "amount": 1})
    assert too_little["state"]["shopping"]["checkout"]["payment"] == "unpaid"
    paid = send({"type": "pay", "amount": 8, "card": "4000000000000002"})
    assert paid["state"]["shopping"]["checkout"]["payment"] == "paid"
    assert set(paid["tags"]) == {"in-checkout", "paid"}
    send({"type": "set_address", "address": "2 Side St"})
    placed = send("place_order")
    assert placed["state"] == "placed"
    assert placed["done"] is True
    assert placed["tags"] == ["order-placed"]


def test_an_event_no_state_handles_leaves_the_state_and_is_recorded(http: httpx.Client) -> None:
    slug = unique("idle")
    http.post("/machines/counter", json={"slug": slug})
    response = http.post(f"/machines/counter/i/{slug}/events", json={"event": "send"})
    assert response.status_code == 200
    assert response.json()["state"] == "counting"
    assert history(http, "counter", slug)[0]["event"] == {"type": "send"}


def test_history_is_newest_first_with_the_event_and_resulting_state(http: httpx.Client) -> None:
    slug = unique("doc")
    http.post("/machines/document", json={"slug": slug, "context": {"owner": "demo-user"}})
    http.post(f"/machines/document/i/{slug}/events", json={"event": {"type": "edit", "title": "T"}})
    http.post(f"/machines/document/i/{slug}/events", json={"event": "submit"})
    items = history(http, "document", slug)
    assert [t["event"] for t in items] == [
        {"type": "submit"},
        {"type": "edit", "title": "T"},
        {"type": "xstate.init"},
    ]
    assert [t["state"] for t in items] == ["in_review", "draft", "draft"]
    assert all(str(t["createdAt"]).endswith("Z") for t in items)


@pytest.mark.parametrize(
    ("before", "back_on", "expected"),
    [
        ("pause", "power_on", {"on": "paused"}),
        # Shallow history keeps the child it left (playing), then enters that child's initial.
        ("speed_up", "power_on", {"on": {"playing": "normal"}}),
        ("speed_up", "power_on_as_left", {"on": {"playing": "fast"}}),  # deep: all of it
    ],
)
def test_a_history_state_leads_back_to_where_an_earlier_request_left_the_instance(
    http: httpx.Client, before: str, back_on: str, expected: dict[str, object]
) -> None:
    """Each event its own request, so each on a chart built for it: the history
    pseudo-states' values must come with the snapshot (they once came back empty, and
    the instance was in no state at all)."""
    slug = unique("player")
    http.post("/machines/player", json={"slug": slug})
    for event in (before, "power_off"):
        assert http.post(f"/machines/player/i/{slug}/events", json={"event": event}).is_success
    back = http.post(f"/machines/player/i/{slug}/events", json={"event": back_on}).json()
    assert back["state"] == expected
    assert http.get(f"/machines/player/i/{slug}").json()["state"] == expected


def test_a_history_state_with_nothing_to_lead_back_to_refuses_the_event(
    http: httpx.Client,
) -> None:
    """A copy made at `off` has no history recorded, and the player's history states no
    default: python-statemachine would enter no state at all. The event is refused with
    why, and the instance stays as it was."""
    slug = unique("player-copy")
    made = http.post(
        f"/machines/player/i/{slug}/copy",
        json={"state": "off", "context": {}, "copiedFrom": "elsewhere"},
    )
    assert made.status_code == 200, made.text
    refused = http.post(f"/machines/player/i/{slug}/events", json={"event": "power_on"})
    assert refused.status_code == 500
    assert "entered no state at all" in refused.json()["error"]
    assert http.get(f"/machines/player/i/{slug}").json()["state"] == "off"
    assert [row["event"]["type"] for row in history(http, "player", slug)] == ["smb-tui.copy"]


def test_pages_the_runtime_made_history_with_no_repeat_and_no_gap(http: httpx.Client) -> None:
    first = http.get("/machines/counter/i/busy/events").json()
    assert len(first["transitions"]) == 100 and first["cursor"]
    items = history(http, "counter", "busy")
    expected = [{"type": "xstate.init"}] + [
        {"type": "increment", "by": 1 + n % 3} if n % 5 else {"type": "decrement"}
        for n in range(SHORT_HISTORY - 1)
    ]
    # The seeded history, oldest first, whole; above it, what tests that ran before on
    # this session server sent (the suite runs in any order).
    assert [t["event"] for t in reversed(items)][:SHORT_HISTORY] == expected
    assert len(items) < SHORT_HISTORY + 100


@pytest.mark.parametrize(
    ("content", "parameter"),
    [
        (b"{not json", "body"),
        (b'{"event": 5}', "event"),
        (b'{"event": {"payload": 1}}', "event"),
        (b'{"event": {"type": ""}}', "event"),
        (b'{"event": {"type": 7}}', "event"),
        (b"{}", "event"),
        (b"[]", "body"),
    ],
)
def test_bad_event_is_400_and_changes_nothing(
    http: httpx.Client, content: bytes, parameter: str
) -> None:
    before = len(history(http, "counter", "small"))
    response = http.post(
        "/machines/counter/i/small/events",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid-parameter"
    assert response.json()["parameter"] == parameter
    assert len(history(http, "counter", "small")) == before


def test_event_to_unknown_instance_is_404(http: httpx.Client) -> None:
    response = http.post("/machines/counter/i/ghost/events", json={"event": "increment"})
    assert response.status_code == 404


def test_an_event_over_400kb_is_refused_and_changes_nothing(http: httpx.Client) -> None:
    slug = unique("big-event")
    http.post("/machines/scratch", json={"slug": slug})
    before = http.get(f"/machines/scratch/i/{slug}/admin").json()
    # 200,000 two-byte characters: 400,000 bytes of UTF-8 (not 200,000 characters).
    huge = {"type": "put", "key": "k", "value": "é" * 210_000}
    response = http.post(f"/machines/scratch/i/{slug}/events", json={"event": huge})
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == "event" and "400 kB" in response.json()["error"]
    assert http.get(f"/machines/scratch/i/{slug}/admin").json() == before
    assert len(history(http, "scratch", slug)) == 1
    fits = {"type": "put", "key": "k", "value": "é" * 150_000}
    assert http.post(f"/machines/scratch/i/{slug}/events", json={"event": fits}).is_success


def test_context_over_400kb_fails_and_leaves_the_instance_as_it_was(http: httpx.Client) -> None:
    slug = unique("big")
    http.post("/machines/scratch", json={"slug": slug})
    http.post(
        f"/machines/scratch/i/{slug}/events",
        json={"event": {"type": "put", "key": "k", "value": 1}},
    )
    before = http.get(f"/machines/scratch/i/{slug}/admin").json()
    count = len(history(http, "scratch", slug))
    response = http.post(
        f"/machines/scratch/i/{slug}/events", json={"event": {"type": "grow", "size": 500_000}}
    )
    assert response.status_code == 400
    assert "400 kB" in response.json()["error"]
    assert http.get(f"/machines/scratch/i/{slug}/admin").json() == before
    assert len(history(http, "scratch", slug)) == count
    ok = http.post(
        f"/machines/scratch/i/{slug}/events", json={"event": {"type": "grow", "size": 300_000}}
    )
    assert ok.status_code == 200


def test_send_waits_for_an_async_service_to_settle(http: httpx.Client) -> None:
    slug = unique("quote")
    http.post("/machines/quote", json={"slug": slug})
    started = time.monotonic()
    settled = http.post(
        f"/machines/quote/i/{slug}/events",
        json={"event": {"type": "request_quote", "car": "van", "delay": 0.4}},
    )
    assert time.monotonic() - started >= 0.4
    assert settled.json()["state"] == "quoted"
    assert settled.json()["publicContext"]["quote"] == {"premium": 36}
    events = [t["event"]["type"] for t in history(http, "quote", slug)]
    assert events == ["done.invoke.fetching", "request_quote", "xstate.init"]


def test_unsettled_service_is_stopped_and_its_error_comes_before_the_next_event(
    http: httpx.Client,
) -> None:
    slug = unique("slow")
    http.post("/machines/scratch", json={"slug": slug})
    started = time.monotonic()
    response = http.post(
        f"/machines/scratch/i/{slug}/events", json={"event": {"type": "work", "seconds": 30}}
    )
    # The session server's settle time-out is 1 s.
    assert 1.0 <= time.monotonic() - started < 10
    assert response.status_code == 200
    assert response.json()["state"] == "working"
    after = http.post(f"/machines/scratch/i/{slug}/events", json={"event": "reset"}).json()
    assert after["state"] == "ready"
    events = [t["event"]["type"] for t in history(http, "scratch", slug)]
    assert events[:3] == ["reset", "error.execution", "work"]


@pytest.fixture
def timed(tmp_path: Path) -> Iterator[tuple[ServerThread, ManualClock]]:
    """A server whose clock moves only when the test moves it: no test sleeps through a
    timer. `timer_retry` 0.3: a delayed event that failed is tried again 0.3 s later."""
    clock = ManualClock(1_780_000_000.0)
    with start_server(tmp_path, demo=False, clock=clock, timer_retry=0.3) as server:
        yield server, clock


def state_of(http: httpx.Client, slug: str) -> str:
    return str(http.get(f"/machines/blink/i/{slug}").json()["state"])


def test_delayed_transition_fires_on_the_server_by_itself(
    timed: tuple[ServerThread, ManualClock],
) -> None:
    server, clock = timed
    with client(server) as http:
        http.post("/machines/blink", json={"slug": "lamp"})
        on = http.post("/machines/blink/i/lamp/events", json={"event": "switch_on"}).json()
        assert on["state"] == "on"
        clock.advance(0.3)
        until(lambda: state_of(http, "lamp") == "off", "the delayed transition")
        last = history(http, "blink", "lamp")[0]
        assert last["event"] == {"type": "xstate.after(300)#blink.on"}


def test_leaving_a_state_cancels_its_delayed_transition(
    timed: tuple[ServerThread, ManualClock],
) -> None:
    server, clock = timed
    with client(server) as http:
        for slug in ("cancelled", "marker"):
            http.post("/machines/blink", json={"slug": slug})
            http.post(f"/machines/blink/i/{slug}/events", json={"event": "switch_on"})
        http.post("/machines/blink/i/cancelled/events", json={"event": "switch_off"})
        clock.advance(0.3)
        # Timers fire in the order they fall due: the marker's, due with the cancelled
        # one, has fired once the marker is off.
        until(lambda: state_of(http, "marker") == "off", "the marker's delayed transition")
        events = [t["event"]["type"] for t in history(http, "blink", "cancelled")]
        assert events == ["switch_off", "switch_on", "xstate.init"]


def test_a_delayed_event_on_a_paused_instance_is_tried_again(
    timed: tuple[ServerThread, ManualClock],
) -> None:
    server, clock = timed
    db = sqlite3.connect(server.server.options.db)

    def tries(slug: str) -> int | None:
        """The delayed event's tries so far (None: it is spent or dropped)."""
        row = db.execute(
            "SELECT tries FROM timers JOIN instances ON instances.id = timers.instance_id"
            " WHERE instances.slug = ?",
            (slug,),
        ).fetchone()
        return None if row is None else int(row[0])

    with client(server) as http:
        for slug in ("later", "never"):
            http.post("/machines/blink", json={"slug": slug})
            http.post(f"/machines/blink/i/{slug}/events", json={"event": "switch_on"})
            http.put(f"/machines/blink/i/{slug}/status", json={"status": "paused"})
        clock.advance(0.3)  # due: tried once each, refused (paused), postponed by 0.3 s
        until(lambda: tries("later") == 1 and tries("never") == 1, "the first tries")
        assert state_of(http, "later") == "on"
        http.put("/machines/blink/i/later/status", json={"status": "running"})
        clock.advance(0.3)
        until(lambda: state_of(http, "later") == "off", "the retried delayed event")
        for tried in range(2, 5):
            until(lambda tried=tried: tries("never") == tried, f"try {tried}")
            clock.advance(0.3)
        until(lambda: tries("never") is None, "the fifth try, and the event dropped")
        http.put("/machines/blink/i/never/status", json={"status": "running"})
        clock.advance(10)
        assert state_of(http, "never") == "on"
        assert history(http, "blink", "never")[0]["event"]["type"] == "switch_on"
    db.close()


def test_logs_hold_what_machine_code_printed(http: httpx.Client) -> None:
    slug = unique("printer")
    http.post("/machines/scratch", json={"slug": slug})
    http.post(
        f"/machines/scratch/i/{slug}/events",
        json={"event": {"type": "put", "key": "colour", "value": "red"}},
    )
    body = http.get(
        "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": "scratch", "instance": slug}
    ).json()
    assert [entry["log"] for entry in body["logs"]] == ["stored colour"]
    entry = body["logs"][0]
    assert entry["outputType"] == "stdout" and entry["machineName"] == "scratch"
    assert body["maxTimestamp"] == entry["timestamp"]
    later = http.get("/logs", params={"from": "2999-01-01T00:00:00Z"}).json()
    assert later["logs"] == []
    missing = http.get("/logs")
    assert missing.status_code == 400 and missing.json()["parameter"] == "from"
    bad = http.get("/logs", params={"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "from"


def test_logs_page_at_100_entries(http: httpx.Client) -> None:
    slug = unique("chatty")
    http.post("/machines/scratch", json={"slug": slug})
    for n in range(105):
        http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "put", "key": f"k{n}", "value": n}},
        )
    params = {"from": "2000-01-01T00:00:00Z", "instance": slug}
    first = http.get("/logs", params=params).json()
    assert len(first["logs"]) == 100
    rest = http.get("/logs", params={**params, "from": first["maxTimestamp"]}).json()
    seen = {e["log"] for e in first["logs"]} | {e["log"] for e in rest["logs"]}
    assert len(seen) == 105


def every_log_entry(http: httpx.Client, slug: str) -> list[dict[str, Any]]:
    """Every log entry of instance `slug`, page after page from the start."""
    entries, start = [], "2000-01-01T00:00:00Z"
    while True:
        page = http.get("/logs", params={"from": start, "instance": slug}).json()
        if not page["logs"]:
            return entries
        entries += page["logs"]
        start = page["maxTimestamp"]


def test_what_machine_code_prints_is_kept_within_what_a_follower_can_read(
    http: httpx.Client,
) -> None:
    """A line of 200,000 characters is kept cut at 64,000, and says so; a run that prints
    10,005 lines keeps 10,000 and says how many more it printed, as does one past
    4,000,000 characters in all. With no limit, one print
    of 70 MB made every page of logs from it on larger than a client reads (64 MB): no
    follower got past it, ever."""
    slug = unique("loud")
    http.post("/machines/scratch", json={"slug": slug})
    for event in (
        {"type": "shout", "size": 200_000},
        {"type": "shout", "lines": 10_005, "size": 3},
    ):
        sent = http.post(f"/machines/scratch/i/{slug}/events", json={"event": event})
        assert sent.status_code == 200, sent.text
    entries = every_log_entry(http, slug)
    long, *lines, said = [(entry["outputType"], entry["log"]) for entry in entries]
    assert long == (
        "stdout",
        "x" * 64_000 + "… [smb-tui local kept 64,000 of this line's 200,000 characters]",
    )
    assert lines == [("stdout", "xxx")] * 10_000
    assert said == (
        "stderr",
        "smb-tui local: 5 more lines of this run not kept (at most 10,000 lines,"
        " 4,000,000 characters a run)",
    )
    # And a run's characters in all: lines are kept while under 4,000,000 (67 of 60,000).
    http.post(
        f"/machines/scratch/i/{slug}/events",
        json={"event": {"type": "shout", "lines": 100, "size": 60_000}},
    )
    start = entries[-1]["timestamp"]  # a page's maxTimestamp: its last entry's
    page = http.get("/logs", params={"from": start, "instance": slug}).json()["logs"]
    assert [len(entry["log"]) for entry in page[:67]] == [60_000] * 67
    assert page[67]["log"].startswith("smb-tui local: 33 more lines of this run not kept")
    assert len(page) == 68


def test_a_run_that_prints_in_a_loop_holds_only_what_is_kept_while_it_runs(
    http: httpx.Client,
) -> None:
    """A python machine printing 30,000 lines of 1,500 characters in one event (45 MB of
    text): the server holds the lines it keeps (4,000,000 characters) while the code
    runs, and counts the rest; it held every line (a 75 MB peak) and cut them once the
    run had ended, so a print in a loop could take the server's memory. (Few long lines,
    not many short ones: a hundred thousand prints traced by tracemalloc pass the 1 s
    CPU limit on a busy machine.)"""
    slug = unique("loop")
    http.post("/machines/scratch", json={"slug": slug})
    tracemalloc.start()
    try:
        sent = http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "shout", "lines": 30_000, "size": 1_500}},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent.status_code == 200, sent.text
    assert peak < 25_000_000, peak
    entries = every_log_entry(http, slug)
    *lines, said = entries
    assert len(lines) == 2_667  # 4,000,000 characters' worth
    assert said["log"].startswith("smb-tui local: 27,333 more lines of this run not kept")


def test_event_payload_round_trips_as_json(http: httpx.Client) -> None:
    slug = unique("payload")
    http.post("/machines/scratch", json={"slug": slug})
    value = {"nested": [1, 2.5, None, True, "[bold red]x[/]"], "unicode": "żółw"}
    http.post(
        f"/machines/scratch/i/{slug}/events",
        json={"event": {"type": "put", "key": "v", "value": value}},
    )
    state = http.get(f"/machines/scratch/i/{slug}").json()
    assert state["publicContext"]["v"] == value
    assert json.loads(json.dumps(history(http, "scratch", slug)[0]["event"]))["value"] == value


def test_a_page_of_history_sends_text_as_it_was_sent_not_escaped(http: httpx.Client) -> None:
    """A page of history is JSON as JavaScript writes it: compact, its text as it is.
    Escaped (`\\u6f22` for 漢), 100 events of 400 kB of text (as State Backed measures
    them, in UTF-8) made a page of 80 MB, over the 64 MB the client reads of an answer:
    such a history could not be read at all."""
    slug = unique("wire")
    http.post("/machines/scratch", json={"slug": slug})
    text = "漢字 żółw 🐢 " * 3_000
    for n in range(3):  # no state takes a note: recorded, the context left alone
        sent = http.post(
            f"/machines/scratch/i/{slug}/events",
            json={"event": {"type": "note", "n": n, "text": text}},
        )
        assert sent.status_code == 200, sent.text
    page = http.get(f"/machines/scratch/i/{slug}/events")
    items = page.json()["transitions"]
    assert [item["event"] for item in items[:3]] == [
        {"type": "note", "n": n, "text": text} for n in (2, 1, 0)
    ]
    as_sent = sum(
        len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) for item in items
    )
    assert len(page.content) < as_sent + 100, f"{len(page.content):,} bytes for {as_sent:,}"


def test_machine_code_that_breaks_the_context_is_a_500_and_changes_nothing(
    http: httpx.Client,
) -> None:
    slug = unique("corrupt")
    http.post("/machines/scratch", json={"slug": slug})
    response = http.post(f"/machines/scratch/i/{slug}/events", json={"event": "corrupt"})
    assert response.status_code == 500
    assert "not JSON" in response.json()["error"]
    assert len(history(http, "scratch", slug)) == 1


def test_huge_and_odd_values_are_stored_not_a_500(http: httpx.Client) -> None:
    slug = unique("huge")
    http.post("/machines/counter", json={"slug": slug})
    response = http.post(
        f"/machines/counter/i/{slug}/events", json={"event": {"type": "increment", "by": 10**30}}
    )
    assert response.status_code == 200
    # As a JavaScript machine sees it: a number past 2^53 is a float.
    assert response.json()["publicContext"] == {"count": float(10**30)}
    ranked = http.get(
        "/machines/counter/indexes/count/query", params={"op": "gt", "value": "1e29"}
    ).json()["instances"]
    assert slug in [entry["slug"] for entry in ranked]


SLOW_AFTER_A_WHILE = """
import asyncio
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion


async def work(machine, **_):
    await asyncio.sleep(1.5)


class Slow(StateChart):
    idle = State(initial=True)
    waiting = State()
    working = State(invoke=work)
    done = State(final=True)
    start = idle.to(waiting)
    timeout = waiting.to(working)
    done_invoke_working = working.to(done)


machine = MachineDefinition(
    slug="slow",
    versions=[MachineVersion("v1", Slow, after={"waiting": [(0.3, "timeout")]})],
)
"""


def test_a_delayed_event_that_runs_long_holds_up_no_other_instances_timers(
    tmp_path: Path,
) -> None:
    """Timers fired one after another: a delayed event whose machine then ran a service
    for seconds held every other instance's delayed transitions until it settled."""
    clock = ManualClock(1_780_000_000.0)
    modules = {"slow.py": SLOW_AFTER_A_WHILE, "blink.py": (MACHINES / "blink.py").read_text()}
    with (
        server_with_machines(tmp_path, modules, clock=clock, settle_timeout=5.0) as server,
        client(server) as http,
    ):
        http.post("/machines/slow", json={"slug": "s"})
        http.post("/machines/slow/i/s/events", json={"event": "start"})
        http.post("/machines/blink", json={"slug": "lamp"})
        http.post("/machines/blink/i/lamp/events", json={"event": "switch_on"})
        clock.advance(0.3)  # both due: the slow one's first (made first), then the lamp's
        until(lambda: state_of(http, "lamp") == "off", "the lamp's delayed transition")
        # The lamp went off while the slow instance's delayed event was still running.
        assert http.get("/machines/slow/i/s").json()["state"] == "waiting"
        until(lambda: http.get("/machines/slow/i/s").json()["state"] == "done", "the slow one")


TWO_TIMERS = """
import asyncio
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion


async def cool_down(machine, **_):
    await asyncio.sleep(0.2)


class Two(StateChart):
    off = State(initial=True)
    on = State()
    cooling = State(invoke=cool_down)
    switch_on = off.to(on)
    first = on.to(cooling)
    second = on.to(off)
    done_invoke_cooling = cooling.to(off)


machine = MachineDefinition(
    slug="two",
    versions=[MachineVersion("v1", Two, after={"on": [(0.3, "first"), (0.31, "second")]})],
)
"""


def test_a_delayed_event_cancelled_by_the_one_due_before_it_never_fires(tmp_path: Path) -> None:
    """Both due at once, fired side by side: the first leaves the state (and runs a
    service a while), which cancels the second, while the second waits for the instance."""
    clock = ManualClock(1_780_000_000.0)
    with (
        server_with_machines(tmp_path, {"two.py": TWO_TIMERS}, clock=clock) as server,
        client(server) as http,
    ):
        db = sqlite3.connect(server.server.options.db)
        http.post("/machines/two", json={"slug": "t"})
        http.post("/machines/two/i/t/events", json={"event": "switch_on"})
        assert db.execute("SELECT count(*) FROM timers").fetchone()[0] == 2
        clock.advance(0.5)
        until(lambda: db.execute("SELECT count(*) FROM timers").fetchone()[0] == 0, "the timers")
        events = [t["event"]["type"] for t in history(http, "two", "t")]
        assert events == [
            "done.invoke.cooling",
            "xstate.after(300)#two.on",
            "switch_on",
            "xstate.init",
        ]
        db.close()


def test_delayed_events_past_the_most_fired_at_once_wait_their_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most MAX_FIRING run at once (two here); the others fire as those end, none lost."""
    monkeypatch.setattr(scheduler, "MAX_FIRING", 2)
    clock = ManualClock(1_780_000_000.0)
    with (
        server_with_machines(tmp_path, {"two.py": TWO_TIMERS}, clock=clock) as server,
        client(server) as http,
    ):
        for n in range(6):
            http.post("/machines/two", json={"slug": f"t{n}"})
            http.post(f"/machines/two/i/t{n}/events", json={"event": "switch_on"})
        firing = server.server.service.scheduler._firing  # type: ignore[union-attr]
        most = [0]

        def all_off() -> bool:
            most[0] = max(most[0], len(firing))
            states = [http.get(f"/machines/two/i/t{n}").json()["state"] for n in range(6)]
            return states == ["off"] * 6

        clock.advance(0.5)
        until(all_off, "every instance's delayed events")
        assert 1 <= most[0] <= 2

"""Benchmark the dashboard on a 1,000,000-transition history, headless, on a local server.

    python benchmarks/bench_tui.py [--history 1000000] [--rows 100000]

Prints: time from opening an instance to its first history page painted; the time to
append a page with 1,000 and with 100,000 rows loaded; process RSS growth over
100,000 rows; key-press-to-repaint latency (p50, p95) while pages load; requests per
sent event; the time for one End press to reach the start of a 10,000- and a
100,000-row history, next to the client's own paging time for the same rows.
Asserts nothing, and never waits for ever: every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import fill_history, instance_id
from textual import events

from smb_tui.api.auth import KeyCredentials
from smb_tui.api.client import StateBackedClient
from smb_tui.api.models import Page, Transition
from smb_tui.config import Connection
from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.tui.app import SmbTui
from smb_tui.tui.widgets.event_composer import EventComposer
from smb_tui.tui.widgets.transition_history import TransitionHistory
from tests.http_log import logged_requests

TARGETS = {
    "first": 300.0,
    "append_ratio": 1.5,
    "rss_mb": 150.0,
    "p95": 50.0,
    "requests_per_send": 1.0,
    "end_ratio": 1.5,
}
DEADLINE = 120.0  # seconds any one wait may take before the figure is reported missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def page_of(count: int) -> Page[Transition]:
    items = [
        Transition.model_validate(
            {
                "createdAt": "2026-01-01T00:00:00.000Z",
                "state": "counting",
                "event": {"type": "increment", "by": n % 7},
            }
        )
        for n in range(count)
    ]
    return Page[Transition](items=items, cursor="synthetic")


def time_append(history: TransitionHistory, rounds: int = 30) -> float:
    """Median ms to take in one 100-row page, at the current size."""
    page = page_of(100)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        history.add_page(page)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    # The server runs in its own process, as a real one would: the app's timings are its own.
    key, db, port = LocalKey.generate(), folder / "bench.db", free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smb_tui",
            "local",
            "--port",
            str(port),
            "--db",
            str(db),
            "--key-id",
            key.key_id,
            "--secret",
            key.secret,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        token = sign_key_token(key, {"sub": "bench"})
        for _ in range(300):
            try:
                httpx.get(f"{base_url}/machines", headers={"authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for slug, size in (("huge", args.history), ("ten-k", 10_000), ("hundred-k", 100_000)):
            httpx.post(
                f"{base_url}/machines/counter",
                json={"slug": slug},
                headers={"authorization": f"Bearer {token}"},
            )
            fill_history(db, instance_id(db, "counter", slug), size - 1)
        httpx.post(
            f"{base_url}/machines/counter",
            json={"slug": "sends"},
            headers={"authorization": f"Bearer {token}"},
        )
        print(f"history: {args.history:,} transitions")
        auth = KeyCredentials(key.key_id, key.secret, {"sub": "bench"})
        target = Connection(base_url, auth, None, "bench", True)
        # As users run it (the history cache on, the default) and with --no-cache.
        await measure(target, args.rows, folder / "cache" / "history.sqlite3")
        await measure(target, args.rows, None)
    finally:
        process.terminate()
        process.wait(10)


async def key_latencies(history: TransitionHistory, presses: int) -> list[float]:
    """From posting a key to the history's lines being drawn anew, as the compositor does.

    Pilot.press waits for the whole process to go idle (about 40 ms), so it cannot
    measure this; a wrapper on render_lines sees the repaint itself.
    """
    painted = [0.0]
    render_lines = history.render_lines

    def timed(crop: Any) -> Any:
        lines = render_lines(crop)
        painted[0] = time.perf_counter()
        return lines

    history.render_lines = timed  # type: ignore[method-assign]
    latencies = []
    for _ in range(presses):
        before = history.cursor
        started = time.perf_counter()
        history.app.post_message(events.Key("pagedown", None))
        # A key that moves nothing (the end of what is loaded) must not hang the run.
        while painted[0] < started or history.cursor == before:
            if time.perf_counter() - started > 2:
                break
            await asyncio.sleep(0)
        else:
            latencies.append((painted[0] - started) * 1000)
        await asyncio.sleep(0.005)  # a fast typist, not a flood
    history.render_lines = render_lines  # type: ignore[method-assign]
    return sorted(latencies)


async def measure(target: Connection, rows: int, cache_path: Path | None) -> None:
    print(f"\n[history cache {'on (the default)' if cache_path else 'off (--no-cache)'}]")
    app = SmbTui(target, machine="counter", cache_path=cache_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        history = app.screen.query_one(TransitionHistory)
        started = time.perf_counter()
        app.screen.open_instance("huge")  # type: ignore[attr-defined]
        while history.row_count < 100:
            await asyncio.sleep(0.001)
        await pilot.pause(0)  # the paint that follows the page
        first = (time.perf_counter() - started) * 1000
        print(
            f"open instance -> first history page painted: {first:.0f} ms "
            f"(target < {TARGETS['first']:.0f})"
        )

        history.focus()
        latencies = await key_latencies(history, 300) or [float("nan")]
        p50 = latencies[len(latencies) // 2]
        p95 = latencies[int(len(latencies) * 0.95)]
        print(
            f"key press -> repaint while pages load: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(target p95 < {TARGETS['p95']:.0f}); {len(history.requested_cursors)} pages "
            "asked for meanwhile"
        )

        # Appending: the same page, at 1,000 rows and at `rows` rows loaded.
        await requests_per_send(app, pilot)
        for slug, rows_there in (("ten-k", 10_000), ("hundred-k", 100_000)):
            await end_press(app, pilot, target, slug, rows_there)
            if cache_path is not None:
                await warm_open(app, pilot, slug)

        history.load(None)
        for _ in range(10):
            history.add_page(page_of(100))
        small = time_append(history)
        before = rss_mb()
        page = page_of(100)
        while history.row_count < rows:
            history.add_page(page_of(100) if history.row_count % 10_000 == 0 else page)
        grown = rss_mb() - before
        large = time_append(history)
        print(
            f"append a page at 1,000 rows: {small:.2f} ms; at {history.row_count:,} rows: "
            f"{large:.2f} ms; ratio {large / small:.2f} (target < "
            f"{TARGETS['append_ratio']})"
        )
        print(
            f"RSS growth for {rows:,} rows: {grown:.0f} MB "
            f"(target < {TARGETS['rss_mb']:.0f}); RSS now {rss_mb():.0f} MB"
        )


async def warm_open(app: SmbTui, pilot: Any, slug: str) -> None:
    """Re-opening an instance whose whole history is cached: to its first row painted."""
    screen: Any = app.screen
    history = screen.query_one(TransitionHistory)
    screen.open_instance("sends")
    await until(pilot, lambda: history.row_count > 0)
    held = history.row_count
    started = time.perf_counter()
    screen.open_instance(slug)
    if not await until(pilot, lambda: history.row_count > 0 and history.row_count != held):
        print(f"warm re-open of {slug}: nothing painted in time")
        return
    await pilot.pause(0)  # the paint that follows
    taken = (time.perf_counter() - started) * 1000
    print(
        f"warm re-open of {slug} (all cached): first row painted in {taken:.0f} ms, "
        f"{history.from_cache:,} rows read from the cache for it (target < 100 ms)"
    )


async def until(pilot: Any, condition: Any) -> bool:
    """Let the app run until `condition()` holds; False when DEADLINE passed first.

    It only sleeps between looks: Pilot.pause waits for every widget of the screen to
    drain its queue, and doing that each millisecond made the app it measures slower
    (an End over 100,000 rows took seconds more than the app alone)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > DEADLINE:
            return False
        await asyncio.sleep(0.001)
    return True


async def requests_per_send(app: SmbTui, pilot: Any, sends: int = 20) -> None:
    """Requests the dashboard makes for one sent event, with no admin view shown."""
    screen: Any = app.screen
    screen.open_instance("sends")
    history = screen.query_one(TransitionHistory)
    if not await until(pilot, lambda: screen.snapshot.admin is not None and history.row_count):
        print("requests per send: the instance did not open in time")
        return
    await pilot.pause(0.3)  # the opening reads, done
    with logged_requests() as sent:
        for n in range(sends):
            screen.post_message(EventComposer.SendRequested({"type": "increment"}, None))
            if not await until(pilot, lambda n=n: history.row_count >= n + 2):
                print("requests per send: a send did not show in time")
                return
        await pilot.pause(0.5)  # late live updates, which must cost nothing
    per_send = (len(sent.sent) - sent.count("GET", "/i/sends/events")) / sends
    per_page = sent.count("GET", "/i/sends/events") / sends
    print(
        f"requests per sent event: {per_send:.2f} to the instance (target "
        f"{TARGETS['requests_per_send']:.0f}), plus {per_page:.2f} history pages for the new rows"
    )


async def end_press(app: SmbTui, pilot: Any, target: Connection, slug: str, rows: int) -> None:
    """One End press to the real start of history, next to the client paging alone."""
    client = StateBackedClient(target.auth, target.base_url)
    started = time.perf_counter()
    async for _ in client.transition_pages("counter", slug):
        pass
    paging = time.perf_counter() - started
    await client.aclose()
    screen: Any = app.screen
    screen.open_instance(slug)
    history = screen.query_one(TransitionHistory)
    if not await until(pilot, lambda: history.row_count >= 100):
        print(f"End on {rows:,} rows: the first page did not come in time")
        return
    history.focus()
    started = time.perf_counter()
    await pilot.press("end")
    reached = await until(pilot, lambda: history.at_end and history.cursor == history.row_count)
    taken = time.perf_counter() - started
    if not reached:
        print(f"End on {rows:,} rows: not at the start after {DEADLINE:.0f} s")
        return
    print(
        f"one End press to the start of {history.row_count:,} rows: {taken:.2f} s; the client "
        f"pages them in {paging:.2f} s; ratio {taken / paging:.2f} "
        f"(target < {TARGETS['end_ratio']})"
    )


if __name__ == "__main__":
    asyncio.run(main())

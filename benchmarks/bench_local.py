"""Benchmark the local server: events per second, p99 and the longest wait with 1 to 50 concurrent
senders, paging a huge history, and memory under many events and a subscriber that
does not read.

    python benchmarks/bench_local.py [--events 1000] [--history 1000000]
                                     [--memory-events 100000] [--updates 2000]

Prints figures; asserts nothing. Runs a server on a free port of 127.0.0.1 over a
throw-away database, in this process (so RSS is the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from common import fill_history, free_port, instance_id, wait_for_demo_seeding, wait_listening

from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.cursors import Cursors
from smb_tui.local.definitions import Snapshot
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.local.store import Store, encode_cursor

SCRATCH = Path(__file__).resolve().parent.parent / "tests" / "machines"


LOAD = Path(__file__).with_name("load.py")
BARE = Path(__file__).with_name("bare.py")
STUB = Path(__file__).with_name("engine_stub")  # its sitecustomize takes the engine out
SHAPES = [(1, 1), (8, 1), (50, 1), (8, 8), (50, 8)]  # (senders, instances)


def load(
    url: str, token: str, template: str, senders: int, instances: int, seconds: float, body: str
) -> dict[str, float]:
    """The load generator's figures, from a process of its own."""
    answer = subprocess.run(
        [
            sys.executable,
            str(LOAD),
            url,
            token,
            template,
            str(senders),
            str(instances),
            str(seconds),
            body,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(answer.stdout)
    return figures


def rates(url: str, token: str, template: str, seconds: float) -> dict[tuple[int, int], float]:
    """Events/s of `increment`s to `template`'s instances, for each of SHAPES."""
    return {
        (senders, instances): load(
            url, token, template, senders, instances, seconds, '{"event": {"type": "increment"}}'
        )["per_s"]
        for senders, instances in SHAPES
    }


def bare_stack(seconds: float, fastapi: bool = False) -> dict[tuple[int, int], float]:
    """Events/s of Starlette and uvicorn alone, answering the same POST (benchmarks/bare.py);
    `fastapi`: through a FastAPI route declared as the server's, answering a constant."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(BARE), str(port), *(["--fastapi"] if fastapi else [])]
    )
    try:
        wait_listening(port)
        return rates(f"http://127.0.0.1:{port}", "t", "/machines/m/i/i{n}/events", seconds)
    finally:
        process.terminate()
        process.wait(10)


def sqlite_floor(folder: Path, count: int = 5000) -> float:
    """Transactions/s of what one event writes, through the store's own methods and
    settings: a transition added and the instance updated, in one transaction."""
    store = Store(folder / "floor.db")
    store.ensure_machine("floor", [("floor-v1", "v1")])
    snapshot = Snapshot(["counting"], {"count": 0})
    with store.transaction() as db:
        instance = store.insert_instance(db, "floor", "one", "floor-v1", snapshot, 1)
    started = time.perf_counter()
    for n in range(count):
        with store.transaction() as db:
            store.add_transitions(db, instance, [(store.now(), {"type": "increment"}, "counting")])
            store.update_instance(db, instance, snapshot, n, "floor-v1", None, [])
    rate = count / (time.perf_counter() - started)
    store.close()
    return rate


def store_at_size(folder: Path, sizes: tuple[int, ...] = (1_000, 100_000)) -> None:
    """What one request's reads and writes cost in the store beside `size` rows of other
    instances and machines (through the store's own methods): an event replacing its
    instance's timers beside that many instances waiting on one; a page of a quiet
    instance's logs beside ten times as many lines of others; a machine's current
    version beside that many versions of another. Flat from one size to the other is
    the target (tests/local/test_store_at_size.py holds it in SQLite's steps)."""
    figures: dict[str, list[float]] = {"timers": [], "logs": [], "version": []}
    for size in sizes:
        store = Store(folder / f"at-size-{size}.db")
        store.ensure_machine("quiet", [("quiet-v1", "v1")])  # made first: the others' are newer
        store.ensure_machine("busy", [(f"busy-v{n}", f"v{n}") for n in range(size)])
        with store.transaction() as db:
            ids = [
                store.insert_instance(db, "busy", f"i{n}", "busy-v0", Snapshot(["w"], {}), 1)
                for n in range(size)
            ]
            for instance in ids:
                store.replace_timers(db, instance, [], [("w", "{}", 1e10 + instance)])
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for first in range(0, size * 10, 100_000):
            with store.transaction() as db:
                store.add_logs(
                    db,
                    [
                        (start + timedelta(milliseconds=n), "busy", f"i{n % 1000}", "v", "o", "x")
                        for n in range(first, min(first + 100_000, size * 10))
                    ],
                )
        with store.transaction() as db:
            store.add_logs(db, [(start, "quiet", "one", "v", "o", "x")])

        timers, logs, version = at_size_figures(store, ids[0])
        figures["timers"].append(timers)
        figures["logs"].append(logs)
        figures["version"].append(version)
        store.close()
    said = {
        "timers": "an event's timers replaced, beside N instances waiting on a timer",
        "logs": "a page of a quiet instance's logs, beside 10 x N lines of others",
        "version": "a machine's current version, beside N versions of another machine",
    }
    for name, values in figures.items():
        spread = ", ".join(f"{size:,}: {ms:.3f} ms" for size, ms in zip(sizes, values, strict=True))
        print(f"{said[name]}: {spread} (medians of 50)")


def at_size_figures(store: Store, instance: int) -> tuple[float, float, float]:
    """Medians of 50, in ms: an event's timers replaced, a quiet instance's logs page, a
    quiet machine's current version."""

    def event() -> None:
        with store.transaction() as db:
            store.replace_timers(db, instance, ["left", "w"], [("w", "{}", 2e10)])

    def median_ms(work: Callable[[], object]) -> float:
        times = []
        for _ in range(50):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    return (
        median_ms(event),
        median_ms(lambda: store.list_logs("2000-01-01T00:00:00Z", None, "quiet", "one", None, 100)),
        median_ms(lambda: store.current_version("quiet")),
    )


def without_engine(folder: Path, seconds: float) -> dict[tuple[int, int], float]:
    """Events/s of the server with the python engine's run taken out (an event keeps the
    state it found: benchmarks/engine_stub): what its own layers allow, HTTP to commit."""
    from bench_xstate import Server

    stub = {"PYTHONPATH": str(STUB), "SMB_BENCH_NO_ENGINE": "1"}
    (folder / "stub").mkdir(exist_ok=True)
    server = Server(None, folder / "stub", folder, demo=True, env=stub)
    token = server.headers["authorization"].split()[1]
    try:
        with seeded(server) as http:
            for n in range(8):
                http.post("/machines/counter", json={"slug": f"s-{n}"}).raise_for_status()
        return rates(server.base_url, token, "/machines/counter/i/s-{n}/events", seconds)
    finally:
        server.stop()


@contextmanager
def seeded(server: Any) -> Iterator[httpx.Client]:
    """A client of `server` (bench_xstate's), once the demo has seeded its instances."""
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as http:
        wait_for_demo_seeding(http)
        yield http


def throughput(folder: Path, seconds: float) -> None:
    """The server in its own process, the load from another: both engines, against the
    bare stack, the SQLite floor and the server without its engine, measured in the same
    run."""
    from bench_xstate import Server, unguarded_ticket

    floor = sqlite_floor(folder)
    bare = bare_stack(seconds)
    framework = bare_stack(seconds, fastapi=True)
    bare_server = without_engine(folder, seconds)
    server = Server(None, unguarded_ticket(folder / "machines"), folder, demo=True)
    token = server.headers["authorization"].split()[1]
    try:
        with seeded(server) as http:
            for n in range(8):
                http.post("/machines/counter", json={"slug": f"t-{n}"}).raise_for_status()
                context = {"public": {"title": "bench", "comments": 0}}
                http.post("/machines/tally", json={"slug": f"t-{n}", "context": context})
        print(f"SQLite, one event's writes in a transaction: {floor:,.0f}/s")
        print(
            f"{'senders':>8} {'instances':>9} {'bare stack/s':>13} {'FastAPI/s':>10} "
            f"{'python/s':>9} {'p99/max ms':>10} {'xstate/s':>9} {'p99/max ms':>10} "
            f"{'python/bare':>12} "
            f"{'FastAPI/bare':>13} {'no engine/s':>12} {'no engine/bare':>15}"
        )
        for senders, instances in SHAPES:
            python = load(
                server.base_url,
                token,
                "/machines/counter/i/t-{n}/events",
                senders,
                instances,
                seconds,
                '{"event": {"type": "increment"}}',
            )
            xstate = load(
                server.base_url,
                token,
                "/machines/tally/i/t-{n}/events",
                senders,
                instances,
                seconds,
                '{"event": {"type": "comment"}}',
            )
            reference = bare[(senders, instances)]
            print(
                f"{senders:>8} {instances:>9} {reference:>13,.0f} "
                f"{framework[(senders, instances)]:>10,.0f} {python['per_s']:>9,.0f} "
                f"{waits(python):>10} {xstate['per_s']:>9,.0f} {waits(xstate):>10} "
                f"{python['per_s'] / reference:>12.2f} "
                f"{framework[(senders, instances)] / reference:>13.2f} "
                f"{bare_server[(senders, instances)]:>12,.0f} "
                f"{bare_server[(senders, instances)] / reference:>15.2f}"
            )
    finally:
        server.stop()


def waits(figures: dict[str, float]) -> str:
    """The 99th percentile and the longest wait, in ms: `12/45`."""
    return f"{figures['p99_ms']:.0f}/{figures['max_ms']:.0f}"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_under_events(http: httpx.Client, count: int) -> None:
    """RSS before and after `count` events (on many instances, as a busy server has)."""
    before = rss_mb()
    senders, per_sender = 8, max(1, count // 8)

    def send(sender: int) -> None:
        with httpx.Client(base_url=http.base_url, headers=http.headers, timeout=120) as own:
            for n in range(per_sender):
                slug = f"mem-{sender}-{n // 100}"
                if n % 100 == 0:
                    own.post("/machines/counter", json={"slug": slug})
                own.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(senders)))
    gc.collect()
    after = rss_mb()
    print(
        f"server RSS before and after {per_sender * senders:,} events: {before:.0f} MB ->"
        f" {after:.0f} MB ({(after - before) / before:+.0%}; target flat, within 10%)"
    )


async def memory_under_a_slow_subscriber(base_url: str, token: str, updates: int) -> None:
    """RSS while a subscriber that never reads misses `updates` updates of 300 kB."""
    http = httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {token}"})
    await http.post("/machines/scratch", json={"slug": "slow-reader"})
    # Warm up first: the allocator's first 300 kB strings grow RSS with or without a
    # subscriber (measured: +23 MB over 600 updates with none), which is not what is asked.
    for n in range(min(updates, 300)):
        value = base64.b64encode(os.urandom(225_000)).decode()
        event = {"type": "put", "key": "v", "value": f"warm-{n}:{value}"}
        await http.post("/machines/scratch/i/slow-reader/events", json={"event": event})
    url = base_url.replace("http://", "ws://") + f"/rt?token={token}"
    async with websockets.connect(url, max_queue=1) as connection:
        await connection.send(
            json.dumps(
                {
                    "type": "subscribe-to-instance",
                    "requestId": "slow",
                    "machineName": "scratch",
                    "machineInstanceName": "slow-reader",
                }
            )
        )
        gc.collect()
        before = rss_mb()
        for n in range(updates):  # 300 kB that do not compress, and are never read
            value = base64.b64encode(os.urandom(225_000)).decode()
            event = {"type": "put", "key": "v", "value": f"{n}:{value}"}
            await http.post("/machines/scratch/i/slow-reader/events", json={"event": event})
        gc.collect()
        after = rss_mb()
    await http.aclose()
    print(
        f"server RSS while a subscriber that does not read misses {updates:,} updates of"
        f" 300 kB: {before:.0f} MB -> {after:.0f} MB ({(after - before) / before:+.0%};"
        " target flat, within 10%)"
    )


def timed_get(http: httpx.Client, path: str, params: dict[str, str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = http.get(path, params=params)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput figure")
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument(
        "--at-size-only", action="store_true", help="only the store's work beside many rows"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    if args.at_size_only:
        store_at_size(folder)
        return
    throughput(folder, args.seconds)
    if args.throughput_only:
        return
    key = LocalKey.generate()
    options = ServerOptions(
        db=folder / "bench.db", key=key, busy_history=10, port=0, machines_dir=SCRATCH
    )
    with ServerThread(options) as server:
        headers = {"authorization": f"Bearer {sign_key_token(key, {'sub': 'bench'})}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as http:
            memory_under_events(http, args.memory_events)
            token = sign_key_token(key, {"sub": "bench"})
            asyncio.run(memory_under_a_slow_subscriber(server.base_url, token, args.updates))
            http.post("/machines/counter", json={"slug": "huge"})
            huge = instance_id(options.db, "counter", "huge")
            started = time.perf_counter()
            fill_history(options.db, huge, args.history)
            print(
                f"filled a {args.history:,}-transition history in "
                f"{time.perf_counter() - started:.1f} s"
            )
            path = "/machines/counter/i/huge/events"
            first = timed_get(http, path, {}, 20)
            # The oldest page: keyset cursors make it cost what the first page costs.
            store = Store(options.db)
            oldest = store._one("SELECT MIN(id) AS id FROM transitions WHERE instance_id = ?", huge)
            store.close()
            assert oldest is not None
            # Cursors are signed for their list: sign one as the server would.
            cursor = Cursors(key.secret).sign(path, [], encode_cursor(oldest["id"] + 100))
            last = timed_get(http, path, {"cursor": cursor}, 20)
            body = http.get(path, params={"cursor": cursor}).json()
            assert "cursor" not in body, "the oldest page should be the last"
            print(f"first page of {args.history:,} transitions: {first:.2f} ms (median of 20)")
            print(f"last page of {args.history:,} transitions:  {last:.2f} ms (median of 20)")
            print(f"last / first: {last / first:.2f}x")
    store_at_size(folder)  # last: its million rows would be in the memory figures' process


if __name__ == "__main__":
    main()

"""Benchmark the dashboard on a history of long events, each its own (as end users' payloads
are): the process's RSS before and after one End to the start of COUNT transitions of
KB kB each, with the history cache on (the default), for ASCII text and for CJK text (a
character that JSON escapes as six bytes). Headless (Pilot, 120x40), against `smb-tui
local` in a process of its own; each text in a fresh process.

    python benchmarks/bench_big_rows.py [--count 1000] [--kb 100]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_tui import rss_mb, until
from bench_xstate import Server  # the server, in a process of its own
from common import instance_id, iso_at, wait_for_demo_seeding
from textual import events

from smb_tui.api.auth import KeyCredentials
from smb_tui.config import Connection
from smb_tui.local.store import Store, stored_json
from smb_tui.tui.app import SmbTui
from smb_tui.tui.widgets.transition_history import TransitionHistory

TEXTS = {"ascii": "x", "cjk": "漢"}


def fill(db: Path, instance: int, count: int, kb: int, character: str) -> None:
    """`count` transitions, each an event of its own with `kb` kB of text (in UTF-8)."""
    text = character * (kb * 1000 // len(character.encode()))
    start = time.time() - count
    store = Store(db)
    with store.transaction() as connection:
        connection.executemany(
            "INSERT INTO transitions (instance_id, created_at, event, state) VALUES (?, ?, ?, ?)",
            [
                (
                    instance,
                    iso_at(start + n),
                    stored_json({"type": "note", "n": n, "text": f"{n}{text}"}),
                    '"counting"',
                )
                for n in range(count)
            ],
        )
    store.close()


async def measure(base_url: str, key_id: str, secret: str, slug: str) -> None:
    auth = KeyCredentials(key_id, secret, {"sub": "bench"})
    cache = Path(tempfile.mkdtemp(prefix="smb-bench-cache-")) / "history.sqlite3"
    connection = Connection(base_url, auth, None, "bench", True)
    app = SmbTui(connection, machine="counter", cache_path=cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        screen: Any = app.screen
        history = screen.query_one(TransitionHistory)
        before = rss_mb()
        screen.open_instance(slug)
        await until(pilot, lambda: history.row_count >= 2)
        history.focus()
        await pilot.pause(0.3)
        started = time.perf_counter()
        app.post_message(events.Key("end", None))
        reached = await until(pilot, lambda: history.at_end and history.cursor == history.row_count)
        took = time.perf_counter() - started
        await pilot.pause(0.5)
        after = rss_mb()
    if not reached:
        print(f"{slug}: End did not reach the start in time")
        return
    # VmHWM, not getrusage's ru_maxrss: Linux counts in that the parent's RSS when it
    # forked (this benchmark's, after filling the history: 554 MB whatever was measured).
    status = Path("/proc/self/status").read_text().splitlines()
    peak = int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
    print(
        f"{slug}: End to the start of {history.buffer.reached:,} rows ({history.row_count:,}"
        f" held) in {took:.1f} s; RSS {before:.0f} -> {after:.0f} MB (+{after - before:.0f}"
        f" MB), at most {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # URL KEY_ID SLUG
    args = parser.parse_args()
    if args.child:
        base_url, key_id, slug = args.child
        secret = os.environ["STATEBACKED_SECRET_KEY"]
        asyncio.run(measure(base_url, key_id, secret, slug))
        return
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    (folder / "none").mkdir()  # no machines of our own: the demo's counter
    server = Server(None, folder / "none", folder, demo=True)
    db = folder / f"{server.base_url.rsplit(':', 1)[1]}.db"
    env = {**os.environ, "STATEBACKED_SECRET_KEY": server.key.secret}  # not on a command line
    try:
        with httpx.Client(base_url=server.base_url, headers=server.headers) as http:
            wait_for_demo_seeding(http)
            for name, character in TEXTS.items():
                http.post("/machines/counter", json={"slug": name}).raise_for_status()
                fill(db, instance_id(db, "counter", name), args.count, args.kb, character)
        print(f"{args.count:,} transitions of {args.kb} kB each (in UTF-8), the history cache on")
        for name in TEXTS:
            subprocess.run(
                [sys.executable, __file__, "--count", str(args.count), "--child",
                 server.base_url, server.key.key_id, name],
                check=False, env=env,
            )  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()

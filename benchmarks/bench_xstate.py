"""Benchmark XState modules on V8 next to the Python runtime, in one run: events per
second on one instance for an event whose action is one `assign` (the demo ticket's
`comment`; the test counter's `increment`), and memory per loaded machine version.

    python benchmarks/bench_xstate.py [--events 1000] [--versions 20]

Prints figures; asserts nothing. Needs no node: the demo's XState bundles are committed.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import httpx

from smb_tui.local.auth import LocalKey, sign_key_token
from smb_tui.local.demo import DEMO_MODULES
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.local.xstate_engine import Worker

MACHINES = Path(__file__).resolve().parent.parent / "tests" / "machines"


def rate(http: httpx.Client, machine: str, slug: str, event: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        answer = http.post(f"/machines/{machine}/i/{slug}/events", json={"event": event})
        answer.raise_for_status()
    return count / (time.perf_counter() - started)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        key = LocalKey.generate()
        options = ServerOptions(
            db=Path(tmp) / "bench.db", key=key, machines_dir=MACHINES, port=0, busy_history=0
        )
        with ServerThread(options).start() as server:
            token = sign_key_token(key, {"sub": "demo-user"})
            headers = {"authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
                http.post("/machines/counter", json={"slug": "bench"}).raise_for_status()
                context = {"public": {"title": "bench", "comments": 0}}
                created = http.post("/machines/ticket", json={"slug": "bench", "context": context})
                created.raise_for_status()
                rate(http, "counter", "bench", "increment", 50)  # warm up both
                rate(http, "ticket", "bench", "comment", 50)
                python = rate(http, "counter", "bench", "increment", args.events)
                xstate = rate(http, "ticket", "bench", "comment", args.events)
    print(f"events/s, one instance, one sender, {args.events} events of one assign each:")
    print(f"  python-statemachine (counter increment): {python:8.0f}")
    print(f"  XState on V8 (ticket comment):            {xstate:8.0f}  ({xstate / python:.2f}x)")

    source = (DEMO_MODULES / "ticket.js").read_text()
    worker = Worker()
    try:
        gc.collect()
        before_rss = rss_mb()
        before_heap = worker.heap_bytes
        for _ in range(args.versions):
            worker.load(source)
        gc.collect()
        heap = (worker.heap_bytes - before_heap) / args.versions / 1024
        rss = (rss_mb() - before_rss) / args.versions * 1024
    finally:
        worker.close()
    print(f"memory per loaded version ({len(source) // 1024} KB bundle, {args.versions} loaded):")
    print(f"  V8 heap: {heap:8.0f} KB    process RSS: {rss:8.0f} KB")


if __name__ == "__main__":
    main()

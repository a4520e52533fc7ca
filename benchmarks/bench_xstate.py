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
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from smb_tui.local.auth import LocalKey, sign_key_token
from smb_tui.local.demo import DEMO_MODULES
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.local.xstate_engine import EXPORTS, Worker


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
        # The demo ticket without its authorizers, as the Python counter has none: one
        # `assign` per event against one assign per event.
        bundle = (DEMO_MODULES / "ticket.js").read_text()
        exports = EXPORTS.search(bundle)
        assert exports is not None
        kept = [
            name
            for name in exports.group(1).split(",")
            if not name.strip().endswith(("allowRead", "allowWrite"))
        ]
        machines = Path(tmp) / "machines"
        machines.mkdir()
        unguarded = f"{bundle[: exports.start()]}export{{{','.join(kept)}}};\n"
        (machines / "tally.js").write_text(unguarded)
        key = LocalKey.generate()
        options = ServerOptions(
            db=Path(tmp) / "bench.db", key=key, machines_dir=machines, port=0, busy_history=0
        )
        with ServerThread(options).start() as server:
            token = sign_key_token(key, {"sub": "demo-user"})
            headers = {"authorization": f"Bearer {token}"}
            events = {"counter": "increment", "tally": "comment", "ticket": "comment"}
            times: dict[str, list[float]] = {machine: [] for machine in events}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
                http.post("/machines/counter", json={"slug": "bench"}).raise_for_status()
                context = {"public": {"title": "bench", "comments": 0}}
                for machine in ("ticket", "tally"):
                    body = {"slug": "bench", "context": context}
                    http.post(f"/machines/{machine}", json=body).raise_for_status()
                for machine, event in events.items():
                    rate(http, machine, "bench", event, 50)  # warm up
                # In alternating rounds, so that drift (a growing database, the machine's
                # load) weighs on all alike.
                for _ in range(10):
                    for machine, event in events.items():
                        times[machine].append(
                            1 / rate(http, machine, "bench", event, args.events // 10)
                        )
    python, xstate, guarded = (len(t) / sum(t) for t in times.values())

    def ratios(machine: str) -> str:
        """Against the Python machine round by round: median and range."""
        each = sorted(p / x for p, x in zip(times["counter"], times[machine], strict=True))
        return f"{statistics.median(each):.2f}x, rounds {each[0]:.2f}-{each[-1]:.2f}x"

    print(f"events/s, one instance, one sender, {args.events} events of one assign each:")
    print(f"  python-statemachine (counter increment):        {python:5.0f}")
    print(f"  XState on V8 (ticket comment, no authorizers):  {xstate:5.0f}  ({ratios('tally')})")
    print(f"  XState on V8, with allowRead and allowWrite:    {guarded:5.0f}  ({ratios('ticket')})")

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

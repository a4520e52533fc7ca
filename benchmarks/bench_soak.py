"""Soak: the dashboard left open on a live instance that another client drives.

    python benchmarks/bench_soak.py [--minutes 10] [--rates 5,50] [--machine counter|xstate]
                                    [--payload-kb 0]

For each rate: `smb-tui local` in its own process, a sender in another process sending
`increment` to `counter/soak-*` (or, `--machine xstate`, `comment` to the demo's ticket
on V8, `tally/soak-*`) at that many events/s (`--payload-kb`: each with that much text,
as end users' long events are), and the real app here (headless,
Textual's Pilot, 120x40) open on that instance with the history focused, pressing j and k
in turn. Prints, per minute: the app's RSS, the time from a key press to the history's
cursor having moved (median, p95; keys not handled within 2 s are counted apart), and the
realtime lag (how long ago the sender got the answer for a count newer than the one
shown). Targets: RSS growth under 10% from minute 2 to the end; key p95 under 100 ms; lag
under 1 s at 50 events/s. Prints figures; asserts nothing. `--trace`: where Python's
allocations grew from minute 2 to the end (tracemalloc; slower).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_xstate import Server, unguarded_ticket  # the server, in its own process

from smb_tui.api.auth import KeyCredentials
from smb_tui.config import Connection
from smb_tui.tui.app import SmbTui
from smb_tui.tui.widgets.transition_history import TransitionHistory

SENDER = """
import asyncio, sys, time
import httpx
base, token, slug, rate, seconds, out, machine, event, key, kb = sys.argv[1:11]
rate, seconds = float(rate), float(seconds)
payload = {"text": "x" * (int(kb) * 1000)} if int(kb) else {}

async def main():
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        path = f"/machines/{machine}/i/{slug}/events"
        start = time.monotonic()
        sent = 0
        with open(out, "w", buffering=1) as log:
            while time.monotonic() - start < seconds:
                due = start + sent / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                answer = await http.post(path, json={"event": {"type": event, **payload}})
                count = answer.json()["publicContext"][key]
                log.write(f"{count} {time.time()}\\n")
                sent += 1

asyncio.run(main())
"""


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Answered:
    """The counts the sender got answers for, and when: read on from where the last read
    stopped, and only the newest kept, so that the measuring costs the same at minute 10
    as at minute 1 (reading the whole log each time grew this process with the log)."""

    KEEP = 5_000  # 100 s at 50 events/s: more than any lag worth measuring

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.counts: deque[int] = deque(maxlen=self.KEEP)
        self.times: deque[float] = deque(maxlen=self.KEEP)

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1  # a line being written waits for the next read
        self.offset += complete
        for line in chunk[:complete].splitlines():
            count, at = line.split()
            self.counts.append(int(count))
            self.times.append(float(at))

    def behind(self, shown: int) -> float:
        """How long newer counts than `shown` have been answered (0: none newer yet)."""
        self.read()
        counts = self.counts
        if not counts or shown < counts[0]:
            return 0.0
        at = bisect.bisect_left(counts, shown)
        if at < len(counts) and counts[at] == shown and at + 1 < len(counts):
            # Shown: the count answered at times[at]; newer ones exist since
            # times[at + 1], so the screen has been behind for that long.
            return max(0.0, time.time() - self.times[at + 1])
        return 0.0


# What the sender drives: machine, the context it is made with, its event, the count
# in its public context. "xstate": the demo's ticket on V8 (without its authorizers).
MACHINES = {
    "counter": ("counter", None, "increment", "count"),
    "xstate": ("tally", {"public": {"title": "soak", "comments": 0}}, "comment", "comments"),
}


async def soak(
    rate: float,
    minutes: float,
    tmp: Path,
    trace: bool = False,
    cached: bool = True,
    kind: str = "counter",
    payload_kb: int = 0,
) -> None:
    machine, context, event, count_key = MACHINES[kind]
    machines = unguarded_ticket(tmp / "machines") if kind == "xstate" else tmp / "none"
    machines.mkdir(exist_ok=True)
    server = Server(None, machines, tmp, demo=True)
    slug = f"soak-{int(rate)}-{os.getpid()}"
    sent_log = tmp / f"sent-{int(rate)}.txt"
    try:
        import httpx

        with httpx.Client(base_url=server.base_url, headers=server.headers) as http:
            body: dict[str, object] = {"slug": slug}
            if context is not None:
                body["context"] = context
            http.post(f"/machines/{machine}", json=body).raise_for_status()
        token = server.headers["authorization"].split(" ", 1)[1]
        arguments = [server.base_url, token, slug, str(rate), str(minutes * 60 + 5), str(sent_log)]
        arguments += [machine, event, count_key, str(payload_kb)]
        sender = subprocess.Popen([sys.executable, "-c", SENDER, *arguments])
        auth = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "bench"})
        connection = Connection(server.base_url, auth, None, "soak", can_act_as=True)
        # As users run it: with the history cache (smb-tui turns it on by default).
        cache = tmp / f"history-{int(rate)}.sqlite3" if cached else None
        app = SmbTui(connection, machine=machine, instance=slug, cache_path=cache)
        sent = Answered(sent_log)
        said = "" if cached else ", --no-cache"
        print(f"\n{rate:g} events/s to {machine} for {minutes:g} minutes{said}:")
        print(
            "  minute   RSS MB   key p50 ms   key p95 ms   keys missed   lag median s   lag max s"
        )
        async with app.run_test(size=(120, 40)) as pilot:
            history = app.screen.query_one(TransitionHistory)
            history.focus()
            while history.row_count < 2:
                await pilot.pause(0.1)
            started = time.monotonic()
            first_rss = None
            for minute in range(1, int(minutes) + 1):
                keys: list[float] = []
                lags: list[float] = []
                missed = 0
                key = "j"
                while time.monotonic() - started < minute * 60:
                    # The key as the terminal would give it, and the time until the
                    # history has moved its cursor (Pilot.press also waits for the app to
                    # be idle, which a live instance never quite is).
                    before = history.cursor
                    pressed = time.perf_counter()
                    app.simulate_key(key)
                    while history.cursor == before and time.perf_counter() - pressed < 2:
                        await asyncio.sleep(0.001)
                    if history.cursor == before:
                        missed += 1
                    else:
                        keys.append((time.perf_counter() - pressed) * 1000)
                    await pilot.pause(0)
                    key = "k" if key == "j" else "j"
                    snapshot = app.screen.snapshot  # type: ignore[attr-defined]
                    state = snapshot.state
                    shown = state.public_context.get(count_key) if state else None
                    if isinstance(shown, int):
                        lags.append(sent.behind(shown))
                    await asyncio.sleep(0.25)
                rss = rss_mb()
                if minute == 2:
                    first_rss = rss
                    if trace:
                        tracemalloc.start(8)
                        traced = tracemalloc.take_snapshot()
                p95 = statistics.quantiles(keys, n=20)[-1] if len(keys) > 1 else keys[0]
                lag_median = statistics.median(lags) if lags else float("nan")
                lag_max = max(lags) if lags else float("nan")
                print(
                    f"  {minute:6d}   {rss:6.0f}   {statistics.median(keys):10.1f}"
                    f"   {p95:10.1f}   {missed:11d}   {lag_median:12.2f}   {lag_max:9.2f}"
                )
            if first_rss is not None:
                growth = (rss - first_rss) / first_rss * 100
                said = f"{first_rss:.0f} -> {rss:.0f} MB ({growth:+.1f}%)"
                print(f"  RSS from minute 2 to the end: {said}")
            if trace and tracemalloc.is_tracing():
                grown = tracemalloc.take_snapshot().compare_to(traced, "traceback")
                print("  Python allocations grown most from minute 2 to the end:")
                for stat in grown[:8]:
                    print(f"    {stat.size_diff / 1024:+9.0f} kB {stat.count_diff:+7d} blocks")
                    for line in stat.traceback.format()[-6:]:
                        print(f"      {line}")
        sender.kill()
        sender.wait()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rates", default="5,50", help="events/s, comma-separated")
    parser.add_argument("--no-cache", action="store_true", help="as smb-tui --no-cache")
    parser.add_argument(
        "--trace", action="store_true", help="where Python memory grew (slower: tracemalloc)"
    )
    parser.add_argument(
        "--machine",
        choices=sorted(MACHINES),
        default="counter",
        help="counter: a python-statemachine chart; xstate: the demo's ticket on V8",
    )
    parser.add_argument(
        "--payload-kb", type=int, default=0, help="each event with this many kB of text"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for rate in args.rates.split(","):
            soaking = soak(
                float(rate),
                args.minutes,
                Path(tmp),
                args.trace,
                not args.no_cache,
                args.machine,
                args.payload_kb,
            )
            asyncio.run(soaking)


if __name__ == "__main__":
    main()

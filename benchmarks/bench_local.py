"""Benchmark the local server: events applied per second, and paging a huge history.

    python benchmarks/bench_local.py [--events 1000] [--history 1000000]

Prints figures; asserts nothing. Runs a server on a free port of 127.0.0.1 over a
throw-away database.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import fill_history, instance_id

from smb_tui.local.auth import LocalKey, sign_key_token
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.local.store import Store, encode_cursor


def events_per_second(http: httpx.Client, count: int, senders: int) -> float:
    slug = f"bench-{senders}"
    http.post("/machines/counter", json={"slug": slug})
    per_sender = count // senders

    def send(_: int) -> None:
        with httpx.Client(base_url=http.base_url, headers=http.headers) as own:
            for _ in range(per_sender):
                own.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(senders)))
    return per_sender * senders / (time.perf_counter() - started)


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
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    key = LocalKey.generate()
    options = ServerOptions(db=folder / "bench.db", key=key, busy_history=10, port=0)
    with ServerThread(options) as server:
        headers = {"authorization": f"Bearer {sign_key_token(key, {'sub': 'bench'})}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as http:
            for senders in (1, 4):
                rate = events_per_second(http, args.events, senders)
                print(
                    f"events applied per second on one instance, {senders} sender(s): {rate:,.0f}"
                )
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
            last = timed_get(http, path, {"cursor": encode_cursor(oldest["id"] + 100)}, 20)
            body = http.get(path, params={"cursor": encode_cursor(oldest["id"] + 100)}).json()
            assert "cursor" not in body, "the oldest page should be the last"
            print(f"first page of {args.history:,} transitions: {first:.2f} ms (median of 20)")
            print(f"last page of {args.history:,} transitions:  {last:.2f} ms (median of 20)")
            print(f"last / first: {last / first:.2f}x")


if __name__ == "__main__":
    main()

"""What the benchmarks share: a free port and waiting for a server on it, filling a long
history fast, straight into SQLite."""

from __future__ import annotations

import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from smb_tui.local.store import Store, stored_json

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # the tests' helpers: what the app sent (tests.http_log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def wait_for_demo_seeding(http: httpx.Client) -> None:
    """Until the demo has seeded its instances (10,000 events through the engine, after
    start-up): the last one it makes says it is done, and no figure shares the server
    with it (cold opens measured meanwhile waited on it: 58-180 ms)."""
    deadline = time.monotonic() + 120
    while http.get("/machines/quote/i/car-1").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the demo never finished seeding")
        time.sleep(0.2)


def instance_id(db: Path, machine: str, slug: str) -> int:
    store = Store(db)
    row = store.get_instance(machine, slug)
    store.close()
    assert row is not None, f"no instance {machine}/{slug}"
    return row.id


def fill_history(db: Path, instance_id: int, count: int, varied: bool = False) -> None:
    """`count` transitions a millisecond apart, oldest first. `varied`: as a real history
    is, mostly `increment`, every 10th a `decrement` with a payload, every 1,000th a
    `freeze` (what a search looks for); else all `increment`."""
    store = Store(db)
    start = time.time() - count / 1000
    batch = 50_000
    plain = stored_json({"type": "increment"})

    def event(n: int) -> str:
        if varied and n % 1000 == 999:
            return stored_json({"type": "freeze", "why": f"maintenance window {n}"})
        if varied and n % 10 == 9:
            return stored_json({"type": "decrement", "by": n % 7})
        return plain

    with store.transaction() as connection:
        for first in range(0, count, batch):
            connection.executemany(
                "INSERT INTO transitions (instance_id, created_at, event, state)"
                " VALUES (?, ?, ?, ?)",
                [
                    (instance_id, iso_at(start + n / 1000), event(n), '"counting"')
                    for n in range(first, min(first + batch, count))
                ],
            )
    store.close()


def iso_at(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"

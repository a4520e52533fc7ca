"""What the benchmarks share: filling a long history fast, straight into SQLite."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from smb_tui.local.store import Store, iso

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # the tests' helpers: what the app sent (tests.http_log)


def instance_id(db: Path, machine: str, slug: str) -> int:
    store = Store(db)
    row = store.get_instance(machine, slug)
    store.close()
    assert row is not None, f"no instance {machine}/{slug}"
    return row.id


def fill_history(db: Path, instance_id: int, count: int) -> None:
    store = Store(db)
    created = iso()
    batch = 50_000
    event = json.dumps({"type": "increment"})
    with store.transaction() as connection:
        for start in range(0, count, batch):
            connection.executemany(
                "INSERT INTO transitions (instance_id, created_at, event, state)"
                " VALUES (?, ?, ?, ?)",
                [(instance_id, created, event, '"counting"')] * min(batch, count - start),
            )
    store.close()

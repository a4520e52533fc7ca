"""The store's per-request work does not grow with what else it holds: counted in SQLite's
own steps (ten virtual-machine instructions each), a request beside 40,000 rows of other
instances costs about what it costs beside 40 (a B-tree a level deeper), where a scan
would cost a thousand times as much. Steps, not timings: they do not move with the
machine's load."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smb_tui.local.definitions import Snapshot
from smb_tui.local.store import Store


def steps(store: Store, work: Callable[[], Any]) -> tuple[Any, int]:
    """What `work()` gave, and how many steps of ten instructions SQLite took for it."""
    counted = [0]

    def step() -> int:
        counted[0] += 1
        return 0

    store.connection.set_progress_handler(step, 10)
    try:
        return work(), counted[0]
    finally:
        store.connection.set_progress_handler(None, 10)


def bounded(few: list[int], many: list[int]) -> bool:
    return all(after <= 2 * before + 10 for before, after in zip(few, many, strict=True))


def test_a_page_of_one_instances_logs_reads_its_lines_not_everyones(tmp_path: Path) -> None:
    """A page for one instance (or machine) walked every line after `from`, whoever's:
    beside a million lines of others, 180 ms a page, on the server's loop."""
    store = Store(tmp_path / "logs.db")
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def lines(count: int, instance: str, machine: str = "busy") -> None:
        with store.transaction() as db:
            store.add_logs(
                db,
                [
                    (start + timedelta(milliseconds=n), machine, instance, "v", "stdout", "x")
                    for n in range(count)
                ],
            )

    def pages() -> list[tuple[int, int]]:
        return [
            steps(
                store,
                lambda m=m, i=i: len(
                    store.list_logs("2000-01-01T00:00:00Z", None, m, i, None, 100)
                ),
            )
            for m, i in (("calm", "quiet"), ("calm", None), ("absent", None))
        ]

    lines(3, "quiet", "calm")
    lines(40, "chatty")
    few = pages()
    lines(40_000, "chatty")
    many = pages()
    assert [found for found, _ in many] == [3, 3, 0]
    assert bounded([spent for _, spent in few], [spent for _, spent in many]), (few, many)
    store.close()


def test_an_events_timers_are_replaced_without_reading_everyone_elses(tmp_path: Path) -> None:
    """Each event drops the timers of the states it left: that delete read every timer
    held (100,000 instances each waiting on one: 12.8 ms an event, 78 events/s at most)."""
    store = Store(tmp_path / "timers.db")
    store.ensure_machine("m", [("m-v1", "v1")])
    with store.transaction() as db:
        ids = [
            store.insert_instance(db, "m", f"i{n}", "m-v1", Snapshot(["waiting"], {}), 1)
            for n in range(40_041)
        ]

    def timers(instances: list[int]) -> None:
        with store.transaction() as db:
            for instance in instances:
                store.replace_timers(db, instance, [], [("waiting", "{}", 1e10 + instance)])

    def event() -> tuple[int, int]:
        def replace() -> None:
            with store.transaction() as db:
                store.replace_timers(db, ids[0], ["left", "waiting"], [("next", "{}", 2e10)])

        _, spent = steps(store, replace)
        held = store.connection.execute("SELECT count(*) FROM timers").fetchone()[0]
        own = store.connection.execute(
            "SELECT state_id FROM timers WHERE instance_id = ?", (ids[0],)
        ).fetchall()
        assert [row[0] for row in own] == ["next"]  # its own replaced
        return spent, held

    timers(ids[:41])
    few, held_few = event()
    timers(ids[41:])
    many, held_many = event()
    assert (held_few, held_many) == (41, 40_041)  # the others kept
    assert bounded([few], [many]), (few, many)
    store.close()


def test_a_machines_versions_are_read_without_reading_every_machines(tmp_path: Path) -> None:
    """A machine's current version (read for each machine listed) and its page of
    versions walked the versions of every machine made after it (--watch makes one on
    each save)."""
    store = Store(tmp_path / "versions.db")
    store.ensure_machine("quiet", [("quiet-v1", "v1"), ("quiet-v2", "v2")])

    def reads() -> list[int]:
        current = steps(store, lambda: store.current_version("quiet"))
        listed = steps(store, lambda: store.list_versions("quiet", None, 100))
        assert current[0] is not None and current[0].label == "v2"
        assert [v.label for v in listed[0].items] == ["v2", "v1"]
        return [current[1], listed[1]]

    store.ensure_machine("busy", [(f"busy-v{n}", f"v{n}") for n in range(40)])
    few = reads()
    store.ensure_machine("busy", [(f"busy-v{n}", f"v{n}") for n in range(40, 40_040)])
    many = reads()
    assert bounded(few, many), (few, many)
    store.close()

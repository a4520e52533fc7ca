"""SQLite storage for the local server: machines, versions, instances, history, timers, logs.

One connection, used from the server's event loop thread only. WAL mode: a commit is
durable once `commit()` returns, also if the process is killed right after.
Lists page by keyset (`WHERE key < ?`), never OFFSET, so a deep page costs what the
first page costs.

Why one module of ~760 lines: one connection, used from one thread, and the schema it
upgrades; every write is one of its transactions. The rows it returns are plain
dataclasses defined here with their tables.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from smb_tui.local.clock import Clock
from smb_tui.local.definitions import JSON, Snapshot
from smb_tui.paths import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS machines (
    slug TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS machine_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    machine TEXT NOT NULL REFERENCES machines(slug),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- A machine's versions, newest first, without walking those of every machine made later.
CREATE INDEX IF NOT EXISTS machine_versions_by_machine ON machine_versions (machine, seq);
CREATE TABLE IF NOT EXISTS instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine TEXT NOT NULL REFERENCES machines(slug),
    slug TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    version_id TEXT NOT NULL,
    desired_version_id TEXT,
    state_ids TEXT NOT NULL,
    context TEXT NOT NULL,
    ts INTEGER NOT NULL,
    pending_events TEXT NOT NULL DEFAULT '[]',
    parent TEXT,
    history TEXT NOT NULL DEFAULT '{}',
    UNIQUE (machine, slug)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_by_instance ON transitions (instance_id, id);
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    state_id TEXT NOT NULL,
    event TEXT NOT NULL,
    fire_at REAL NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS timers_by_time ON timers (fire_at);
-- An event replaces its instance's timers by key: without this, each delete read every
-- timer held (100,000 instances waiting: 12.8 ms an event). Also deleting an instance.
CREATE INDEX IF NOT EXISTS timers_by_instance ON timers (instance_id, state_id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    machine TEXT NOT NULL,
    instance TEXT NOT NULL,
    version_id TEXT NOT NULL,
    output_type TEXT NOT NULL,
    log TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (timestamp, id);
-- A page of one machine's or instance's lines reads those lines only, not every line
-- after `from` (a million lines of others: 180 ms a page). A line printed costs ~14 us more.
CREATE INDEX IF NOT EXISTS logs_by_machine ON logs (machine, timestamp, id);
CREATE INDEX IF NOT EXISTS logs_by_instance ON logs (machine, instance, timestamp, id);
-- One row per instance, index and value: an index selector that finds an array (or a
-- JSONPath with [*]) gives an instance one entry per element, as State Backed's do.
CREATE TABLE IF NOT EXISTS index_entries (
    machine TEXT NOT NULL,
    name TEXT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    instance_slug TEXT NOT NULL,
    value NOT NULL,
    PRIMARY KEY (machine, name, instance_id, value)
);
CREATE INDEX IF NOT EXISTS index_entries_by_value
    ON index_entries (machine, name, value, instance_slug);
CREATE INDEX IF NOT EXISTS index_entries_by_instance ON index_entries (instance_id);
-- What was deployed over the API (not loaded from --machines DIR): machines, the code of
-- their versions and migrations, and which version is current.
CREATE TABLE IF NOT EXISTS deployed_machines (
    slug TEXT PRIMARY KEY REFERENCES machines(slug) ON DELETE CASCADE,
    indexes TEXT NOT NULL,
    current_version TEXT
);
CREATE TABLE IF NOT EXISTS deployed_code (
    id TEXT PRIMARY KEY,
    machine TEXT NOT NULL REFERENCES deployed_machines(slug) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    index_selectors TEXT,
    code TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Versions `--watch` made of a changed file in --machines DIR: kept so that instances
-- that moved to one still run after a restart. `migration`: a migration module named in
-- the folder's machine.json, or NULL (instances keep their state if it still exists).
CREATE TABLE IF NOT EXISTS watched_versions (
    id TEXT PRIMARY KEY,
    machine TEXT NOT NULL REFERENCES machines(slug),
    file TEXT NOT NULL,
    code TEXT NOT NULL,
    migration TEXT,
    created_at TEXT NOT NULL
);
"""


def iso(moment: datetime | None = None) -> str:
    """Millisecond ISO-8601 in UTC, which also sorts as text."""
    moment = moment or datetime.now(UTC)
    return _iso_date(moment) + f".{moment.microsecond // 1000:03d}Z"


def iso_us(moment: datetime) -> str:
    """Microsecond ISO-8601 in UTC: the log column's format."""
    return _iso_date(moment) + f".{moment.microsecond:06d}Z"


def _iso_date(moment: datetime) -> str:
    # Not strftime: its %Y writes the year 1 as "1", which neither sorts nor parses.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


class BadCursor(ValueError):
    pass


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as error:
        raise BadCursor("the cursor is not one this server gave out") from error


@dataclass(frozen=True)
class InstanceRow:
    id: int
    machine: str
    slug: str
    created_at: str
    status: str
    version_id: str
    desired_version_id: str | None
    snapshot: Snapshot
    ts: int
    pending_events: list[dict[str, JSON]]
    # The persistent instance that spawned this one: {machineName, machineInstanceName}.
    parent: dict[str, str] | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A spawn or an event between instances, stored with the run that made it and
    deleted once delivered (or given up on)."""

    id: int
    sender: dict[str, str]
    kind: str  # "spawn" or "send"
    body: dict[str, JSON]


@dataclass(frozen=True)
class TimerRow:
    id: int
    instance_id: int
    state_id: str
    event: str
    fire_at: float
    tries: int


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and the cursor after it (None: the last page)."""

    items: list[T]
    cursor: str | None


@dataclass(frozen=True)
class VersionRow:
    id: str
    created_at: str
    label: str | None  # the clientInfo it was deployed with


@dataclass(frozen=True)
class InstanceListRow:
    slug: str
    created_at: str
    status: str
    version: VersionRow | None


@dataclass(frozen=True)
class IndexRow:
    slug: str
    value: JSON


@dataclass(frozen=True)
class MachineRow:
    slug: str
    created_at: str | None
    current_version: VersionRow | None


class Store:
    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        # The server's one clock: timestamps here, and the timers' due times.
        self.clock = clock or Clock()
        private_file(Path(path))
        self.connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (not a power cut) and is much faster.
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.executescript(SCHEMA)
        self._upgrade_schema()
        last = self.connection.execute("SELECT max(timestamp) FROM logs").fetchone()[0]
        self._last_log = last or ""

    def close(self) -> None:
        self.connection.close()

    def _upgrade_schema(self) -> None:
        """A database made before indexes fanned out kept one value per instance and
        index (`index_values`): its entries move to `index_entries`, once. One made before
        persistent children gains the column naming an instance's parent; one made before
        history pseudo-states were kept, the column keeping them (none recorded)."""
        columns = {row[1] for row in self.connection.execute("PRAGMA table_info(instances)")}
        if "parent" not in columns:
            with self.transaction() as db:
                db.execute("ALTER TABLE instances ADD COLUMN parent TEXT")
        if "history" not in columns:
            with self.transaction() as db:
                db.execute("ALTER TABLE instances ADD COLUMN history TEXT NOT NULL DEFAULT '{}'")
        old = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_values'"
        ).fetchone()
        if old is None:
            return
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO index_entries"
                " (machine, name, instance_id, instance_slug, value)"
                " SELECT machine, name, instance_id, instance_slug, value FROM index_values"
                " WHERE value IS NOT NULL"
            )
            db.execute("DROP TABLE index_values")

    def now(self) -> str:
        return iso(datetime.fromtimestamp(self.clock(), UTC))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.connection.execute(sql, args).fetchall()

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.connection.execute(sql, args).fetchone()
        return row

    # -- machines and versions --------------------------------------------------------

    def ensure_machine(self, slug: str, version_ids: Sequence[tuple[str, str]]) -> None:
        """Record a machine and its versions (id, label), oldest first, once."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO machines (slug, created_at) VALUES (?, ?)",
                (slug, self.now()),
            )
            for version_id, label in version_ids:
                db.execute(
                    "INSERT OR IGNORE INTO machine_versions (id, machine, label, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (version_id, slug, label, self.now()),
                )

    def add_deployed_machine(self, slug: str, indexes: Sequence[str]) -> bool:
        """A machine created over the API; False when that name is taken."""
        with self.transaction() as db:
            if self.machine_created_at(slug) is not None:
                return False
            db.execute("INSERT INTO machines (slug, created_at) VALUES (?, ?)", (slug, self.now()))
            db.execute(
                "INSERT INTO deployed_machines (slug, indexes) VALUES (?, ?)",
                (slug, json.dumps(list(indexes))),
            )
        return True

    def deployed_machines(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM deployed_machines ORDER BY slug")

    def deployed_code(self, machine: str) -> list[sqlite3.Row]:
        """A deployed machine's versions and migrations, in the order they were made."""
        return self._all(
            "SELECT deployed_code.*, machine_versions.label AS label FROM deployed_code"
            " LEFT JOIN machine_versions ON machine_versions.id = deployed_code.id"
            " WHERE deployed_code.machine = ? ORDER BY deployed_code.rowid",
            machine,
        )

    def add_deployed_version(
        self,
        machine: str,
        version_id: str,
        client_info: str,
        code: str,
        index_selectors: dict[str, str] | None,
        make_current: bool,
    ) -> None:
        with self.transaction() as db:
            now = self.now()
            db.execute(
                "INSERT INTO machine_versions (id, machine, label, created_at) VALUES (?, ?, ?, ?)",
                (version_id, machine, client_info, now),
            )
            db.execute(
                "INSERT INTO deployed_code (id, machine, kind, index_selectors, code, created_at)"
                " VALUES (?, ?, 'version', ?, ?, ?)",
                (version_id, machine, json.dumps(index_selectors), code, now),
            )
            # The first version is current whatever it asked: a machine needs one.
            db.execute(
                "UPDATE deployed_machines SET current_version = ?"
                " WHERE slug = ? AND (? OR current_version IS NULL)",
                (version_id, machine, make_current),
            )

    def add_deployed_migration(
        self, machine: str, migration_id: str, from_id: str, to_id: str, code: str
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deployed_code (id, machine, kind, from_version, to_version, code,"
                " created_at) VALUES (?, ?, 'migration', ?, ?, ?, ?)",
                (migration_id, machine, from_id, to_id, code, self.now()),
            )

    def delete_deployed_machine(self, slug: str) -> None:
        """The machine, its versions and their code (refused by the caller while it has
        instances)."""
        with self.transaction() as db:
            db.execute("DELETE FROM deployed_code WHERE machine = ?", (slug,))
            db.execute("DELETE FROM deployed_machines WHERE slug = ?", (slug,))
            db.execute("DELETE FROM machine_versions WHERE machine = ?", (slug,))
            db.execute("DELETE FROM logs WHERE machine = ?", (slug,))
            db.execute("DELETE FROM machines WHERE slug = ?", (slug,))

    def watched_versions(self, machine: str) -> list[sqlite3.Row]:
        """The versions --watch made of a file machine, oldest first, with their labels."""
        return self._all(
            "SELECT watched_versions.*, machine_versions.label AS label FROM watched_versions"
            " JOIN machine_versions ON machine_versions.id = watched_versions.id"
            " WHERE watched_versions.machine = ? ORDER BY machine_versions.seq",
            machine,
        )

    def add_watched_version(
        self,
        machine: str,
        version_id: str,
        label: str,
        file: str,
        code: str,
        migration: str | None,
        movers: Sequence[str],
    ) -> int:
        """A version made by --watch, and the instances at one of `movers` (the versions
        from which a migration path leads to it) set to move to it at their next event:
        in one transaction. How many instances will move."""
        with self.transaction() as db:
            now = self.now()
            db.execute(
                "INSERT INTO machine_versions (id, machine, label, created_at) VALUES (?, ?, ?, ?)",
                (version_id, machine, label, now),
            )
            db.execute(
                "INSERT INTO watched_versions (id, machine, file, code, migration, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (version_id, machine, file, code, migration, now),
            )
            moved = 0
            for mover in movers:
                moved += db.execute(
                    "UPDATE instances SET desired_version_id = ? WHERE machine = ?"
                    " AND version_id = ?",
                    (version_id, machine, mover),
                ).rowcount
        return moved

    def instance_versions(self, machine: str) -> list[str]:
        """The versions a machine's instances are at."""
        rows = self._all("SELECT DISTINCT version_id FROM instances WHERE machine = ?", machine)
        return [row["version_id"] for row in rows]

    def has_instances_of(self, machine: str) -> bool:
        return self._one("SELECT 1 FROM instances WHERE machine = ? LIMIT 1", machine) is not None

    def machine_created_at(self, slug: str) -> str | None:
        row = self._one("SELECT created_at FROM machines WHERE slug = ?", slug)
        return row["created_at"] if row else None

    def version_info(self, version_id: str) -> VersionRow | None:
        row = self._one("SELECT * FROM machine_versions WHERE id = ?", version_id)
        return _version_info(row) if row else None

    def current_version(self, machine: str) -> VersionRow | None:
        """A deployed machine's current version (`makeCurrent`), else its newest."""
        row = self._one(
            "SELECT machine_versions.* FROM deployed_machines JOIN machine_versions"
            " ON machine_versions.id = deployed_machines.current_version"
            " WHERE deployed_machines.slug = ?",
            machine,
        ) or self._one(
            "SELECT * FROM machine_versions WHERE machine = ? ORDER BY seq DESC LIMIT 1", machine
        )
        return _version_info(row) if row else None

    def _keyset(
        self, sql: str, args: Sequence[Any], limit: int, key: Callable[[sqlite3.Row], Any]
    ) -> tuple[list[sqlite3.Row], str | None]:
        """One page of a keyset query (`sql` ordered by its key, ending in `LIMIT ?`):
        its rows and the cursor after the last, if there are more."""
        rows = self._all(sql, *args, limit + 1)
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], encode_cursor(key(rows[limit - 1]))

    def list_machines(
        self, known: Sequence[str], after: str | None, limit: int
    ) -> Page[MachineRow]:
        """Machines that are loaded now, by slug."""
        slugs = sorted(s for s in known if after is None or s > after)
        page = slugs[:limit]
        items = [
            MachineRow(slug, self.machine_created_at(slug), self.current_version(slug))
            for slug in page
        ]
        return Page(items, encode_cursor(page[-1]) if len(slugs) > limit else None)

    def list_versions(self, machine: str, before: int | None, limit: int) -> Page[VersionRow]:
        rows, cursor = self._keyset(
            "SELECT * FROM machine_versions WHERE machine = ? AND seq < ? ORDER BY seq DESC"
            " LIMIT ?",
            (machine, before if before is not None else 2**62),
            limit,
            lambda row: row["seq"],
        )
        return Page([_version_info(r) for r in rows], cursor)

    # -- instances -------------------------------------------------------------------

    def has_instances(self) -> bool:
        return self._one("SELECT 1 FROM instances LIMIT 1") is not None

    def get_instance(self, machine: str, slug: str) -> InstanceRow | None:
        row = self._one("SELECT * FROM instances WHERE machine = ? AND slug = ?", machine, slug)
        return _instance(row) if row else None

    def get_instance_by_id(self, instance_id: int) -> InstanceRow | None:
        row = self._one("SELECT * FROM instances WHERE id = ?", instance_id)
        return _instance(row) if row else None

    def list_instances(self, machine: str, after: str | None, limit: int) -> Page[InstanceListRow]:
        rows, cursor = self._keyset(
            "SELECT slug, created_at, status, version_id FROM instances"
            " WHERE machine = ? AND slug > ? ORDER BY slug LIMIT ?",
            (machine, after or ""),
            limit,
            lambda row: row["slug"],
        )
        items = [
            InstanceListRow(
                r["slug"], r["created_at"], r["status"], self.version_info(r["version_id"])
            )
            for r in rows
        ]
        return Page(items, cursor)

    def insert_instance(
        self,
        db: sqlite3.Connection,
        machine: str,
        slug: str,
        version_id: str,
        snapshot: Snapshot,
        ts: int,
        parent: dict[str, str] | None = None,
    ) -> int:
        cursor = db.execute(
            "INSERT INTO instances"
            " (machine, slug, created_at, version_id, state_ids, context, ts, parent, history)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                machine,
                slug,
                self.now(),
                version_id,
                json.dumps(snapshot.state),
                json.dumps(snapshot.context),
                ts,
                None if parent is None else json.dumps(parent),
                json.dumps(snapshot.history),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def update_instance(
        self,
        db: sqlite3.Connection,
        instance_id: int,
        snapshot: Snapshot,
        ts: int,
        version_id: str,
        desired_version_id: str | None,
        pending_events: list[dict[str, JSON]],
    ) -> None:
        db.execute(
            "UPDATE instances SET state_ids = ?, context = ?, history = ?, ts = ?,"
            " version_id = ?, desired_version_id = ?, pending_events = ? WHERE id = ?",
            (
                json.dumps(snapshot.state),
                json.dumps(snapshot.context),
                json.dumps(snapshot.history),
                ts,
                version_id,
                desired_version_id,
                json.dumps(pending_events),
                instance_id,
            ),
        )

    def set_status(self, instance_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE instances SET status = ? WHERE id = ?", (status, instance_id))

    def set_desired_version(self, instance_id: int, version_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE instances SET desired_version_id = ? WHERE id = ?",
                (version_id, instance_id),
            )

    def delete_instance(self, instance_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM instances WHERE id = ?", (instance_id,))

    # -- history -----------------------------------------------------------------------

    def add_transitions(
        self, db: sqlite3.Connection, instance_id: int, rows: Sequence[tuple[str, JSON, JSON]]
    ) -> None:
        db.executemany(
            "INSERT INTO transitions (instance_id, created_at, event, state) VALUES (?, ?, ?, ?)",
            [
                (instance_id, at, stored_json(event), stored_json(state))
                for at, event, state in rows
            ],
        )

    def transition_items(self, instance_id: int, before: int | None, limit: int) -> Page[str]:
        """A page of the instance's transitions, newest first, each the JSON text of one
        wire item (`{"createdAt", "state", "event"}`). SQLite writes the items: the event
        and state are stored as JSON text (plain JSON, checked before they were stored)
        and go in as they are, the time quoted by `json_quote`."""
        rows, cursor = self._keyset(
            "SELECT id, '{\"createdAt\":' || json_quote(created_at) || ',\"state\":' || state"
            " || ',\"event\":' || event || '}' FROM transitions"
            " WHERE instance_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (instance_id, before if before is not None else 2**62),
            limit,
            lambda row: row[0],
        )
        return Page([row[1] for row in rows], cursor)

    # -- timers ------------------------------------------------------------------------

    def replace_timers(
        self,
        db: sqlite3.Connection,
        instance_id: int,
        cancelled: Sequence[str],
        new: Sequence[tuple[str, str, float]],
    ) -> None:
        """Drop the timers the engine cancelled and add those it set, each under the
        engine's key for it (the `state_id` column: a state id, or a delayed send's id);
        a timer set again under a key replaces the one there."""
        db.executemany(
            "DELETE FROM timers WHERE instance_id = ? AND state_id = ?",
            [(instance_id, key) for key in set(cancelled) | {key for key, _, _ in new}],
        )
        db.executemany(
            "INSERT INTO timers (instance_id, state_id, event, fire_at) VALUES (?, ?, ?, ?)",
            [(instance_id, state, event, at) for state, event, at in new],
        )

    def add_outbox(
        self,
        db: sqlite3.Connection,
        sender: dict[str, str],
        items: Sequence[tuple[str, dict[str, JSON]]],
    ) -> None:
        """Spawns and sends a run made (kind "spawn" or "send"), in its transaction."""
        db.executemany(
            "INSERT INTO outbox (sender, kind, body) VALUES (?, ?, ?)",
            [(json.dumps(sender), kind, json.dumps(body)) for kind, body in items],
        )

    def outbox_after(self, after: int) -> list[OutboxRow]:
        """The outbox's rows newer than row `after`, oldest first."""
        rows = self._all("SELECT * FROM outbox WHERE id > ? ORDER BY id", after)
        return [
            OutboxRow(row["id"], json.loads(row["sender"]), row["kind"], json.loads(row["body"]))
            for row in rows
        ]

    def delete_outbox(self, item_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def next_timers(self, count: int) -> list[TimerRow]:
        """The first `count` timers to fall due, in the order they do."""
        rows = self._all("SELECT * FROM timers ORDER BY fire_at, id LIMIT ?", count)
        return [TimerRow(**dict(row)) for row in rows]

    def timer(self, timer_id: int) -> TimerRow | None:
        row = self._one("SELECT * FROM timers WHERE id = ?", timer_id)
        return TimerRow(**dict(row)) if row else None

    def postpone_timer(self, timer_id: int, fire_at: float) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE timers SET fire_at = ?, tries = tries + 1 WHERE id = ?", (fire_at, timer_id)
            )

    def delete_timer(self, db: sqlite3.Connection, timer_id: int) -> None:
        db.execute("DELETE FROM timers WHERE id = ?", (timer_id,))

    # -- logs and indexes --------------------------------------------------------------

    def add_logs(
        self, db: sqlite3.Connection, rows: Sequence[tuple[datetime, str, str, str, str, str]]
    ) -> None:
        """Store log lines, each at a time later than every one before (by a microsecond
        where they would tie), so that `from = maxTimestamp` never repeats or skips one."""
        stored = []
        for moment, *rest in rows:
            # A millisecond of its own for each line (the next one free): followers read
            # times at millisecond precision (JavaScript dates, in the official client
            # and smply), and one time must name one line. Kept in the µs column format.
            at = iso_us(_to_ms(moment))
            if at <= self._last_log:
                last = datetime.fromisoformat(self._last_log.replace("Z", "+00:00"))
                at = iso_us(_to_ms(last) + timedelta(milliseconds=1))
            self._last_log = at
            stored.append((at, *rest))
        db.executemany(
            "INSERT INTO logs (timestamp, machine, instance, version_id, output_type, log)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            stored,
        )

    def list_logs(
        self,
        start: str,
        end: str | None,
        machine: str | None,
        instance: str | None,
        version: str | None,
        limit: int,
    ) -> list[sqlite3.Row]:
        # `from` is exclusive, at millisecond precision: following with `from =
        # maxTimestamp` (the last line's millisecond) repeats nothing, and since each
        # line has a millisecond of its own, skips nothing either.
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        try:
            after = _to_ms(moment) + timedelta(milliseconds=1)
        except OverflowError:  # from the last millisecond there is: nothing after it
            return []
        sql = "SELECT * FROM logs WHERE timestamp >= ?"
        args: list[Any] = [iso_us(after)]
        for column, value in (
            ("machine", machine),
            ("instance", instance),
            ("version_id", version),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if end is not None:
            sql += " AND timestamp <= ?"
            args.append(end)
        return self._all(sql + " ORDER BY timestamp, id LIMIT ?", *args, limit)

    def set_index_values(
        self,
        db: sqlite3.Connection,
        machine: str,
        instance_id: int,
        slug: str,
        values: Mapping[str, Sequence[JSON]],
    ) -> None:
        """The instance's entries in each index: one per value (an array fans out)."""
        db.execute("DELETE FROM index_entries WHERE instance_id = ?", (instance_id,))
        db.executemany(
            "INSERT OR IGNORE INTO index_entries"
            " (machine, name, instance_id, instance_slug, value) VALUES (?, ?, ?, ?, ?)",
            [
                (machine, name, instance_id, slug, value)
                for name, entries in values.items()
                for value in entries
                if value is not None
            ],
        )

    def query_index(
        self,
        machine: str,
        name: str,
        op: str | None,
        value: JSON,
        descending: bool,
        after: tuple[JSON, str] | None,
        limit: int,
    ) -> Page[IndexRow]:
        """Instances by index value; with no `op`, every instance in index order."""
        order = "DESC" if descending else "ASC"
        keyset = "<" if descending else ">"
        sql = "SELECT instance_slug, value FROM index_entries WHERE machine = ? AND name = ?"
        args: list[Any] = [machine, name]
        if op is not None:
            comparison = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
            sql += f" AND value {comparison[op]} ?"
            args.append(value)
        if after is not None:
            sql += f" AND (value, instance_slug) {keyset} (?, ?)"
            args.extend(after)
        sql += f" ORDER BY value {order}, instance_slug {order} LIMIT ?"
        rows, cursor = self._keyset(
            sql, args, limit, lambda row: [row["value"], row["instance_slug"]]
        )
        return Page([IndexRow(r["instance_slug"], r["value"]) for r in rows], cursor)


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def stored_json(value: JSON) -> str:
    """A value as a page of history sends it, which is as stored: compact, its text as it
    is, as JavaScript's JSON.stringify writes it. Escaped (`\\u6f22` for 漢), an event of
    400 kB of text as State Backed measures it (UTF-8) went out at up to three times
    that, and a page of 100 of them over the 64 MB the client reads of an answer. A lone
    surrogate, which plain_json keeps out, is escaped rather than refused by SQLite."""
    text = _COMPACT(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"))
    return text


def _to_ms(moment: datetime) -> datetime:
    """`moment` down to its millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def log_time(stored: str) -> str:
    """A stored log time (µs column) as the API gives it: millisecond ISO-8601, as a
    JavaScript date writes it (`toISOString`)."""
    return stored[:23] + "Z"


def _version_info(row: sqlite3.Row) -> VersionRow:
    return VersionRow(row["id"], row["created_at"], row["label"])


def _instance(row: sqlite3.Row) -> InstanceRow:
    return InstanceRow(
        id=row["id"],
        machine=row["machine"],
        slug=row["slug"],
        created_at=row["created_at"],
        status=row["status"],
        version_id=row["version_id"],
        desired_version_id=row["desired_version_id"],
        # The column keeps its first name; it holds the engine's state JSON.
        snapshot=Snapshot(
            json.loads(row["state_ids"]), json.loads(row["context"]), json.loads(row["history"])
        ),
        ts=row["ts"],
        pending_events=json.loads(row["pending_events"]),
        parent=json.loads(row["parent"]) if row["parent"] else None,
    )

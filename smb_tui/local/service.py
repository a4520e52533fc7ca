"""What the local server does, apart from HTTP: instances, events, timers, realtime.

Events to one instance run one at a time under that instance's lock; everything one
event changes (history, state, timers, logs, index values) is written in one SQLite
transaction before the client hears back.

Why one module of ~800 lines: every write here (create, send, timer, migrate, status,
delete) takes the instance's lock, runs the engine and commits in one transaction before
publishing; the reads and the shaping of wire bodies sit beside them because both use the
same definitions and versions. Locks, the scheduler, delivery between instances,
realtime and cursors are apart.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from smb_tui.api.wire import UPGRADE_EVENT, delete_confirmation, encode_services
from smb_tui.local.auth import SENDER_CLAIM, Principal, same_secret
from smb_tui.local.definitions import (
    JSON,
    AuthRequest,
    MachineDefinition,
    MachineVersion,
    Snapshot,
)
from smb_tui.local.delivery import Deliverer, outbox_items
from smb_tui.local.engines.seam import (
    Engine,
    LogLine,
    MachineError,
    Message,
    Outcome,
    Refused,
    RunLog,
    StateView,
    Step,
)
from smb_tui.local.engines.statechart import StatechartEngine, machine_failure
from smb_tui.local.errors import ApiError
from smb_tui.local.locks import InstanceLocks
from smb_tui.local.plain_json import NotPlainJson, plain_json
from smb_tui.local.scheduler import Scheduler, timer_event
from smb_tui.local.store import InstanceRow, Page, Store, VersionRow

log = logging.getLogger(__name__)

MAX_CONTEXT_BYTES = 400 * 1024
PERSISTENT_SEND = "statebacked.send"  # a timer's event that sends to another instance
COPY_EVENT = "smb-tui.copy"  # the first transition of an instance copied from elsewhere
# State Backed documents no limit of its own for an event; an event is stored with its
# transition, as the context is, so it gets the context's limit (a 2 MB event was taken).
MAX_EVENT_BYTES = MAX_CONTEXT_BYTES

Subscriber = Callable[[dict[str, JSON]], None]


class StateNotKept(Exception):
    """An instance's state is not in the --watch version it was to move to."""


@dataclass(frozen=True)
class Answer:
    """A create or send: the State body, and the services stopped at the settle time-out."""

    body: dict[str, JSON]
    stopped_services: list[str]

    @property
    def stopped_header(self) -> str:
        """The services as the header carries them: ASCII, whatever machine code named them."""
        return encode_services(self.stopped_services)


@dataclass(frozen=True)
class Settings:
    settle_timeout: float = 10.0
    page_size: int = 100
    timer_retry: float = 30.0  # seconds between tries of a delayed event that failed


class LocalService:
    def __init__(
        self,
        store: Store,
        definitions: Sequence[MachineDefinition],
        settings: Settings | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.engine: Engine = engine or StatechartEngine(store.clock)
        self.definitions = {d.slug: d for d in definitions}
        # Machines created over the API that have no version yet: their index names.
        self.versionless: dict[str, list[str]] = {}
        self.locks = InstanceLocks()  # events to one instance, one at a time
        # Spawns and events between instances, delivered in order after their runs.
        self.delivery = Deliverer(self, store, self._undelivered)
        self._subscribers: defaultdict[tuple[str, str], dict[Subscriber, Principal]] = defaultdict(
            dict
        )
        # Delayed transitions, fired by the store's clock with no client connected.
        self.scheduler = Scheduler(store, self._fire_timer, self.settings.timer_retry)
        for definition in definitions:
            store.ensure_machine(
                definition.slug,
                [(definition.version_id(v), v.label) for v in definition.versions],
            )

    # -- lookups -----------------------------------------------------------------------

    def machine(self, slug: str) -> MachineDefinition:
        definition = self.definitions.get(slug)
        if definition is None:
            if slug in self.versionless:
                raise ApiError(
                    404,
                    f"machine {slug!r} has no version yet: deploy one (smb-tui deploy,"
                    " smply machine-versions create)",
                )
            raise ApiError(404, f"there is no machine named {slug!r}")
        return definition

    def add_definition(self, definition: MachineDefinition) -> None:
        """A machine deployed or redeployed while serving (its versions already stored)."""
        self.versionless.pop(definition.slug, None)
        self.definitions[definition.slug] = definition

    def instance(self, machine: str, slug: str) -> tuple[MachineDefinition, InstanceRow]:
        definition = self.machine(machine)
        row = self.store.get_instance(machine, slug)
        if row is None:
            raise ApiError(404, f"machine {machine!r} has no instance named {slug!r}")
        return definition, row

    def _version(self, definition: MachineDefinition, version_id: str) -> MachineVersion:
        version = definition.version_by_id(version_id)
        if version is None:
            raise ApiError(500, f"instance refers to unknown version {version_id!r}")
        return version

    def state_body(
        self, definition: MachineDefinition, row: InstanceRow, view: StateView | None = None
    ) -> dict[str, JSON]:
        """The instance's state as State Backed answers it; `view`: its state, when the
        caller has it already."""
        if view is None:
            view = self.engine.view(self._version(definition, row.version_id), row.snapshot)
        public = row.snapshot.context.get("public")
        return {
            "ts": row.ts,
            "state": view.value,
            "publicContext": public if isinstance(public, dict) else {},
            "tags": view.tags,
            "done": view.done,
        }

    def admin_body(self, definition: MachineDefinition, row: InstanceRow) -> dict[str, JSON]:
        view = self.engine.view(self._version(definition, row.version_id), row.snapshot)
        body: dict[str, JSON] = {
            "ts": row.ts,
            "state": view.value,
            "context": row.snapshot.context,
            "status": row.status,
            "tags": view.tags,
            "done": view.done,
            "machineVersion": version_wire(self.store.version_info(row.version_id)),
            "createdAt": row.created_at,
        }
        if row.desired_version_id:
            body["desiredMachineVersion"] = version_wire(
                self.store.version_info(row.desired_version_id)
            )
        return body

    # -- machines ----------------------------------------------------------------------

    def list_machines(self, after: str | None) -> Page[dict[str, JSON]]:
        known = [*self.definitions, *self.versionless]
        page = self.store.list_machines(known, after, self.settings.page_size)
        items: list[dict[str, JSON]] = [
            {
                "slug": m.slug,
                "createdAt": m.created_at,
                "currentVersion": version_wire(m.current_version),
            }
            for m in page.items
        ]
        return Page(items, page.cursor)

    def list_versions(self, machine: str, before: int | None) -> Page[dict[str, JSON]]:
        if machine not in self.versionless:  # created, no version yet: none listed
            self.machine(machine)
        page = self.store.list_versions(machine, before, self.settings.page_size)
        return Page([version_body(v) for v in page.items], page.cursor)

    def _refuse_taken(self, machine: str, slug: str) -> None:
        """409 when `slug` is an instance of `machine` already (with its lock held)."""
        if self.store.get_instance(machine, slug) is not None:
            raise ApiError(
                409, f"machine {machine!r} already has an instance named {slug!r}", "invalid-state"
            )

    @staticmethod
    def _named_version(definition: MachineDefinition, version_id: str) -> MachineVersion:
        """A version by id, `current` for the current one; 404 when there is none."""
        if version_id == "current":
            return definition.current
        version = definition.version_by_id(version_id)
        if version is None:
            raise ApiError(404, f"machine {definition.slug!r} has no version {version_id!r}")
        return version

    async def version_definition(self, machine: str, version_id: str) -> dict[str, JSON]:
        """A version's statechart, drawn by the dashboard's chart (a local-only route):
        `current` names the machine's current version."""
        definition = self.machine(machine)
        version = self._named_version(definition, version_id)
        try:
            return await self.engine.definition(version)
        except MachineError as error:
            raise ApiError(500, str(error), "machine-error") from error

    async def replay_history(
        self,
        machine: str,
        version_id: str,
        history: list[dict[str, JSON]],
        context: dict[str, JSON],
    ) -> dict[str, JSON]:
        """A recorded history replayed against one of this server's XState versions (a
        local-only route; see `smb_tui.local.replay`): the report as JSON."""
        from smb_tui.local.engines.xstate import XStateModule
        from smb_tui.local.replay import Recorded, ReplayError, replay, report_json

        definition = self.machine(machine)
        version = self._named_version(definition, version_id)
        if not isinstance(version.chart, XStateModule):
            raise ApiError(
                400,
                "replay runs XState modules (this version is a Python machine)",
                "invalid-parameter",
            )
        rows = []
        for item in history:
            event = item.get("event")
            rows.append(
                Recorded(
                    str(item.get("createdAt", "")),
                    event if isinstance(event, dict) else {"type": str(event)},
                    item.get("state"),
                )
            )
        engine = getattr(self.engine, "xstate", self.engine)  # a MixedEngine's XState one
        try:
            report = await replay(engine, version, machine, rows, context)
        except ReplayError as error:
            raise ApiError(400, str(error), "invalid-parameter", "history") from error
        return report_json(report)

    def list_instances(self, machine: str, after: str | None) -> Page[dict[str, JSON]]:
        self.machine(machine)
        page = self.store.list_instances(machine, after, self.settings.page_size)
        items: list[dict[str, JSON]] = [
            {
                "slug": i.slug,
                "createdAt": i.created_at,
                "status": i.status,
                "machineVersion": version_wire(i.version),
            }
            for i in page.items
        ]
        return Page(items, page.cursor)

    async def list_transitions(
        self, principal: Principal, machine: str, slug: str, before: int | None
    ) -> Page[str]:
        """A page of the instance's transitions, newest first, if its authorizer lets
        `principal` read it: each the JSON text of one wire item, as the store writes it
        (a page is not parsed and encoded again)."""
        _, row, _ = await self._readable(principal, machine, slug)
        return self.store.transition_items(row.id, before, self.settings.page_size)

    def check_index(self, machine: str, index: str) -> None:
        """404 unless the machine exists and has the index."""
        if index not in self.machine(machine).indexes:
            raise ApiError(404, f"machine {machine!r} has no index {index!r}")

    def query_index(
        self,
        machine: str,
        index: str,
        condition: tuple[str, JSON] | None,
        descending: bool,
        after: tuple[JSON, ...] | None,
        limit: int,
    ) -> Page[dict[str, JSON]]:
        self.check_index(machine, index)
        op, value = condition if condition is not None else (None, None)
        page = self.store.query_index(machine, index, op, value, descending, after, limit)
        # On the wire an index value is a string, as State Backed sends it.
        items: list[dict[str, JSON]] = [
            {"slug": entry.slug, "indexValue": index_value_wire(entry.value)}
            for entry in page.items
        ]
        return Page(items, page.cursor)

    def read_logs(
        self,
        start: str,
        end: str | None,
        machine: str | None,
        instance: str | None,
        version: str | None,
        limit: int,
    ) -> list[sqlite3.Row]:
        return self.store.list_logs(start, end, machine, instance, version, limit)

    def machine_body(self, slug: str) -> dict[str, JSON]:
        if slug in self.versionless:
            return {
                "createdAt": self.store.machine_created_at(slug),
                "currentVersion": None,
                "indexes": sorted(self.versionless[slug]),
            }
        definition = self.machine(slug)
        return {
            "createdAt": self.store.machine_created_at(slug),
            "currentVersion": version_wire(self.store.current_version(slug)),
            "indexes": sorted(definition.indexes),
        }

    # -- instances ---------------------------------------------------------------------

    async def create_instance(
        self,
        principal: Principal,
        machine: str,
        slug: str,
        context: dict[str, JSON],
        version_id: str | None,
        parent: dict[str, str] | None = None,
    ) -> Answer:
        """A new instance; `parent`: the persistent instance that spawned it."""
        definition = self.machine(machine)
        if version_id is None:
            version = definition.current
        else:
            found = definition.version_by_id(version_id)
            if found is None:
                raise ApiError(
                    400,
                    f"machine {machine!r} has no version {version_id!r}",
                    "invalid-parameter",
                    "machineVersionId",
                )
            version = found
        async with self.locks.hold(machine, slug):
            self._refuse_taken(machine, slug)
            check = AuthRequest("initialization", machine, slug, principal.auth_context, context)
            _require_user(check)
            family = {} if parent is None else {"parent": parent}  # engines before it: none
            outcome = await self._run(
                definition,
                version,
                slug,
                lambda: self.engine.start(
                    version, context, self.settings.settle_timeout, machine, check, slug, **family
                ),
            )
            row = await self._commit(
                definition, version, None, slug, outcome, parent=parent, hops=principal.hops
            )
        return Answer(self.state_body(definition, row), outcome.stopped_services)

    async def copy_instance(
        self,
        machine: str,
        slug: str,
        value: JSON,
        context: dict[str, JSON],
        version_id: str | None,
        source: str,
    ) -> Answer:
        """A new instance at `value` with `context`, nothing run (a local-only route): a
        copy of an instance kept elsewhere, to try events on. Its first transition is
        `{type: "smb-tui.copy", from: source}`."""
        definition = self.machine(machine)
        version = definition.current
        if version_id is not None:
            found = definition.version_by_id(version_id)
            if found is None:
                raise ApiError(
                    404,
                    f"machine {machine!r} has no version {version_id!r} here: deploy its code"
                    " first (smb-tui deploy)",
                    "not-found",
                )
            version = found
        async with self.locks.hold(machine, slug):
            self._refuse_taken(machine, slug)
            try:
                snapshot = await self.engine.at_state(version, value, context)
            except MachineError as error:
                raise ApiError(400, str(error), "invalid-parameter", "state") from error
            event: dict[str, JSON] = {"type": COPY_EVENT, "from": source}
            outcome = Outcome(steps=[Step(event, snapshot)])
            row = await self._commit(definition, version, None, slug, outcome)
        return Answer(self.state_body(definition, row), [])

    async def read_instance(self, principal: Principal, machine: str, slug: str) -> dict[str, JSON]:
        definition, row, view = await self._readable(principal, machine, slug)
        return self.state_body(definition, row, view)

    async def _readable(
        self, principal: Principal, machine: str, slug: str
    ) -> tuple[MachineDefinition, InstanceRow, StateView]:
        """The instance (and its state), once its authorizer lets `principal` read it."""
        definition, row = self.instance(machine, slug)
        version = self._version(definition, row.version_id)
        view = self.engine.view(version, row.snapshot)
        await self._authorize(
            version,
            AuthRequest(
                "read", machine, slug, principal.auth_context, row.snapshot.context, view.value
            ),
        )
        return definition, row, view

    async def send_event(
        self,
        principal: Principal | None,
        machine: str,
        slug: str,
        event: dict[str, JSON],
        spent_timer: int | None = None,
    ) -> Answer:
        """Apply one event and wait for the instance to settle. `principal` None: the system;
        `spent_timer`: the timer this event is, deleted in the event's own transaction."""
        definition = self.machine(machine)
        size = _utf8_json_bytes(event)
        if size > MAX_EVENT_BYTES:
            raise ApiError(
                400,
                f"the event is {size} bytes as JSON, over the 400 kB limit; nothing was sent",
                "invalid-parameter",
                "event",
            )
        async with self.locks.hold(machine, slug):
            _, row = self.instance(machine, slug)  # read under the lock: as it is now
            if spent_timer is not None and self.store.timer(spent_timer) is None:
                # Timers fire side by side: an event due before this one (it held the
                # lock first) left the state and so cancelled it. Nothing to do.
                return Answer(self.state_body(definition, row), [])
            if row.status == "paused":
                raise ApiError(
                    409,
                    f"instance {slug!r} is paused; resume it before sending events",
                    "invalid-state",
                )
            version = self._version(definition, row.version_id)
            view = self.engine.view(version, row.snapshot)
            desired = row.desired_version_id
            upgrading = bool(desired) and desired != row.version_id
            check = None
            if principal is not None:
                check = AuthRequest(
                    "event",
                    machine,
                    slug,
                    principal.auth_context,
                    row.snapshot.context,
                    view.value,
                    event,
                )
                _require_user(check)
                if view.done:
                    # Asked of the version the instance is at: nothing runs.
                    await self._authorize(version, check)
                    check = None
                # Otherwise the engine asks it in the same run as the event (for XState,
                # one call into V8 instead of two), of the version that runs the event.
            if view.done:
                # A machine in a top-level final state is stopped: XState's interpreter
                # takes no more events, so nothing changes and nothing is recorded.
                return Answer(self.state_body(definition, row), [])
            snapshot, upgrade = row.snapshot, None
            if desired is not None and upgrading:
                # State Backed upgrades before the next event; the new version handles it.
                try:
                    snapshot, version = await self._migrate(
                        definition, slug, row.version_id, desired, snapshot
                    )
                except StateNotKept:
                    # A --watch version the instance's state is not in: it stays where
                    # it is (its logs say so) and this event runs there.
                    row = dataclasses.replace(row, desired_version_id=None)
                    upgrading = False
            if desired is not None and upgrading:
                if check is not None:
                    # The event is delivered to the new version, as State Backed says,
                    # so the new version's allowWrite judges it, on the migrated state.
                    check = dataclasses.replace(
                        check,
                        context=snapshot.context,
                        state=self.engine.view(version, snapshot).value,
                    )
                upgrade = Step(
                    {
                        "type": UPGRADE_EVENT,
                        "fromMachineVersionId": row.version_id,
                        "toMachineVersionId": definition.version_id(version),
                    },
                    snapshot,
                )
            events = [*row.pending_events, event]
            migrated = snapshot
            target = version
            family = {} if row.parent is None else {"parent": row.parent}
            outcome = await self._run(
                definition,
                version,
                slug,
                lambda: self.engine.apply(
                    target,
                    migrated,
                    events,
                    self.settings.settle_timeout,
                    machine,
                    check,
                    slug,
                    **family,
                ),
            )
            if upgrade is not None:
                outcome.steps.insert(0, upgrade)
            hops = principal.hops if principal is not None else 0
            row = await self._commit(
                definition, version, row, slug, outcome, spent_timer, hops=hops
            )
        return Answer(self.state_body(definition, row), outcome.stopped_services)

    async def apply_events(
        self, machine: str, slug: str, events: Sequence[dict[str, JSON]]
    ) -> None:
        """Apply many events as the system in one run and one transaction (demo seeding)."""
        async with self.locks.hold(machine, slug):
            definition, row = self.instance(machine, slug)  # as it is now: under the lock
            version = self._version(definition, row.version_id)
            outcome = await self._run(
                definition,
                version,
                slug,
                lambda: self.engine.apply(
                    version, row.snapshot, events, self.settings.settle_timeout, machine, None, slug
                ),
            )
            await self._commit(definition, version, row, slug, outcome)

    async def _run(
        self,
        definition: MachineDefinition,
        version: MachineVersion,
        slug: str,
        run: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        try:
            outcome = await run()
        except Refused as refusal:
            lines = list(refusal.logs)
            if refusal.error is not None:
                lines.append(self._raised("allowWrite", refusal.error))
            self._keep_logs(definition.slug, slug, definition.version_id(version), lines)
            raise _rejected("write") from refusal
        except MachineError as error:
            # Nothing of the event is stored, but what the code printed and its
            # traceback go to the instance's logs (stderr), where the user looks.
            self._keep_logs(definition.slug, slug, definition.version_id(version), error.logs)
            raise ApiError(
                500,
                f"{error}; the event was refused and nothing was stored (see the logs)",
                error.code,
            ) from error
        size = _utf8_json_bytes(outcome.final.context)
        if size > MAX_CONTEXT_BYTES:
            raise ApiError(
                400,
                f"the event would make the context {size} bytes, over the 400 kB limit;"
                " the instance is unchanged",
                "invalid-parameter",
                "event",
            )
        return outcome

    async def _authorize(self, version: MachineVersion, request: AuthRequest) -> None:
        _require_user(request)
        try:
            allowed = await self.engine.authorize(version, request)
        except Exception as error:  # machine code's: a no, and the instance's logs say why
            allowed = False
            machine, slug = request.machine_name, request.machine_instance_name
            which = "allowRead" if request.type == "read" else "allowWrite"
            line = self._raised(which, str(error) or repr(error))
            self._keep_logs(machine, slug, self.machine(machine).version_id(version), [line])
        if not allowed:
            raise _rejected("read" if request.type == "read" else "write")

    def _raised(self, authorizer: str, error: str) -> LogLine:
        return LogLine(
            self.store.clock(),
            "stderr",
            f"{authorizer} raised, so the request was refused: {error}",
        )

    def _keep_logs(
        self, machine: str, slug: str, version_id: str, lines: Sequence[LogLine]
    ) -> None:
        """What machine code printed (or raised) in a run that stored nothing else."""
        if lines:
            with self.store.transaction() as db:
                self.store.add_logs(db, _log_rows(machine, slug, version_id, lines))

    async def _commit(
        self,
        definition: MachineDefinition,
        version: MachineVersion,
        row: InstanceRow | None,
        slug: str,
        outcome: Outcome,
        spent_timer: int | None = None,
        parent: dict[str, str] | None = None,
        hops: int = 0,
    ) -> InstanceRow:
        """Persist everything the outcome changed, in one transaction; then tell listeners.
        `hops`: how many deliveries between instances led to this run (see delivery).

        What the machine made is checked as plain JSON first: what is stored can always
        be read and answered again, so no 500 can follow the commit.
        """
        try:
            for step in outcome.steps:
                plain_json(step.event, "event")
                plain_json(step.snapshot.context, "context")
        except NotPlainJson as error:
            raise ApiError(
                500,
                f"the machine made a value that is not plain JSON ({error}); nothing was stored",
            ) from error
        snapshot = outcome.final
        version_id = definition.version_id(version)
        desired = row.desired_version_id if row else None
        if desired == version_id:
            desired = None  # upgraded by this event
        now = self.store.clock()
        ts = int(now * 1000)
        created = self.store.now()
        pending = outcome.pending
        new_timers = [
            (timer.key, timer_event(timer.event), now + timer.seconds) for timer in outcome.timers
        ]
        store = self.store
        with store.transaction() as db:
            if row is None:
                instance_id = store.insert_instance(
                    db, definition.slug, slug, version_id, snapshot, ts, parent
                )
            else:
                instance_id = row.id
                store.update_instance(db, instance_id, snapshot, ts, version_id, desired, pending)
            store.add_transitions(
                db,
                instance_id,
                [
                    (created, step.event, self.engine.view(version, step.snapshot).value)
                    for step in outcome.steps
                ],
            )
            if spent_timer is not None:
                store.delete_timer(db, spent_timer)  # fired: spent, with the event it made
            store.replace_timers(db, instance_id, outcome.cancelled, new_timers)
            store.add_logs(db, _log_rows(definition.slug, slug, version_id, outcome.logs))
            sent = outbox_items(outcome.spawns, outcome.sends, hops + 1)
            if sent:
                sender = {"machineName": definition.slug, "machineInstanceName": slug}
                store.add_outbox(db, sender, sent)
            store.set_index_values(
                db,
                definition.slug,
                instance_id,
                slug,
                {
                    name: _index_entries(value)
                    for name, value in self.engine.index_values(
                        version, snapshot, definition.indexes_of(version)
                    ).items()
                    if name in definition.indexes_of(version)
                },
            )
        if new_timers:
            self.scheduler.wake()
        if outcome.spawns or outcome.sends:
            self.delivery.wake()
        if row is None:
            saved = store.get_instance_by_id(instance_id)
            assert saved is not None
        else:
            # What was just written, not read back: every write to an instance holds its
            # lock, as this commit's caller does, so nothing else changed it meanwhile.
            saved = dataclasses.replace(
                row,
                snapshot=snapshot,
                ts=ts,
                version_id=version_id,
                desired_version_id=desired,
                pending_events=list(pending),
            )
        await self._publish(definition, saved)
        return saved

    async def _migrate(
        self,
        definition: MachineDefinition,
        slug: str,
        from_id: str,
        to_id: str,
        snapshot: Snapshot,
    ) -> tuple[Snapshot, MachineVersion]:
        path = definition.migration_path(from_id, to_id)
        if not path:
            raise ApiError(400, "no migrations lead to the desired version", "no-migration-path")
        for step in path:
            try:
                snapshot = await self.engine.migrate(step, snapshot)
            except Exception as error:
                if step.keeps_state and all(v.keeps_state for v in path):
                    line = LogLine(
                        self.store.clock(),
                        "stderr",
                        f"smb-tui local: instance {slug!r} stays at its version: its state is"
                        f" not in version {step.label!r} ({error})",
                    )
                    with self.store.transaction() as db:
                        self.store.add_logs(db, _log_rows(definition.slug, slug, from_id, [line]))
                    raise StateNotKept from error
                failure = machine_failure(error, [], self.store.clock)
                with self.store.transaction() as db:
                    self.store.add_logs(
                        db,
                        _log_rows(definition.slug, slug, definition.version_id(step), failure.logs),
                    )
                what = (
                    f"failed: {error}"  # the engine's own words
                    if isinstance(error, MachineError)
                    else f"raised {type(error).__name__}: {error}"
                )
                raise ApiError(
                    500,
                    f"the migration to version {step.label!r} {what}; the event was refused"
                    " and nothing was stored (see the logs)",
                    "machine-error",
                ) from error
        return snapshot, path[-1]

    # -- admin -------------------------------------------------------------------------

    async def set_status(self, machine: str, slug: str, status: str) -> None:
        async with self.locks.hold(machine, slug):
            _, row = self.instance(machine, slug)
            self.store.set_status(row.id, status)

    async def set_desired_version(self, machine: str, slug: str, version_id: str) -> None:
        """Under the instance's lock, as an event is: an event running meanwhile commits
        the desired version it read, and would undo one set in between."""
        async with self.locks.hold(machine, slug):
            definition, row = self.instance(machine, slug)
            if definition.version_by_id(version_id) is None:
                raise ApiError(
                    400,
                    f"machine {machine!r} has no version {version_id!r}",
                    "invalid-parameter",
                    "targetMachineVersionId",
                )
            if definition.migration_path(row.version_id, version_id) is None:
                raise ApiError(
                    400,
                    f"no migrations lead from version {row.version_id} to {version_id}",
                    "no-migration-path",
                )
            self.store.set_desired_version(row.id, version_id)

    async def delete_instance(self, machine: str, slug: str, confirmation: str) -> None:
        async with self.locks.hold(machine, slug):
            _, row = self.instance(machine, slug)
            if not same_secret(confirmation, delete_confirmation(machine, slug)):
                raise ApiError(
                    400,
                    "the confirmation must be base64url(HMAC-SHA256(key=machine name,"
                    " message=instance name)) without padding",
                    "invalid-parameter",
                    "hmacSha256OfMachineInstanceNameWithMachineNameKey",
                )
            self.store.delete_instance(row.id)

    # -- events between instances ------------------------------------------------------

    def instance_exists(self, machine: str, slug: str) -> bool:
        return self.store.get_instance(machine, slug) is not None

    def _undelivered(self, sender: dict[str, str], text: str) -> None:
        """What the deliverer could not deliver, in the sender's logs."""
        machine, slug = sender["machineName"], sender["machineInstanceName"]
        row = self.store.get_instance(machine, slug)
        line = LogLine(self.store.clock(), "stderr", text)
        self._keep_logs(machine, slug, row.version_id if row else "", [line])

    # -- delayed transitions -----------------------------------------------------------

    async def _fire_timer(
        self, machine: str, slug: str, event: dict[str, JSON], timer_id: int
    ) -> None:
        """A delayed transition fell due: the event, as the system, spending the timer.
        A delayed send to another persistent instance goes to the outbox instead, from
        this instance, spending the timer in the same transaction."""
        if event.get("type") == PERSISTENT_SEND and isinstance(event.get("to"), dict):
            to, sent = event["to"], event.get("event")
            message = Message(
                str(to.get("machineName")),
                str(to.get("machineInstanceName")),
                sent if isinstance(sent, dict) else {"type": str(sent)},
            )
            sender = {"machineName": machine, "machineInstanceName": slug}
            async with self.locks.hold(machine, slug):  # after the events due before it
                if self.store.timer(timer_id) is None:
                    return  # cancelled meanwhile: an event before it left the state
                with self.store.transaction() as db:
                    self.store.add_outbox(db, sender, outbox_items([], [message]))
                    self.store.delete_timer(db, timer_id)
            self.delivery.wake()
            return
        await self.send_event(None, machine, slug, event, spent_timer=timer_id)

    # -- realtime ----------------------------------------------------------------------

    def subscribe(
        self, machine: str, slug: str, subscriber: Subscriber, principal: Principal
    ) -> None:
        self._subscribers[(machine, slug)][subscriber] = principal

    def unsubscribe(self, machine: str, slug: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get((machine, slug))
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._subscribers[(machine, slug)]

    async def _publish(self, definition: MachineDefinition, row: InstanceRow) -> None:
        """Each subscriber gets the update if allowRead lets it read the instance as it is
        now (a document may have changed owner); otherwise an error, and no more updates."""
        subscribers = self._subscribers.get((row.machine, row.slug))
        if not subscribers:
            return
        update = {
            "type": "instance-update",
            "machineName": row.machine,
            "machineInstanceName": row.slug,
            **self.state_body(definition, row),
        }
        version = self._version(definition, row.version_id)
        value = self.engine.view(version, row.snapshot).value
        for subscriber, principal in list(subscribers.items()):
            request = AuthRequest(
                "read", row.machine, row.slug, principal.auth_context, row.snapshot.context, value
            )
            try:
                await self._authorize(version, request)
            except ApiError as error:
                self.unsubscribe(row.machine, row.slug, subscriber)
                subscriber({"type": "error", **error.body(), "status": error.status})
                continue
            subscriber(update)


def _utf8_json_bytes(value: JSON) -> int:
    """The size of `value` as compact UTF-8 JSON, as State Backed measures its limits (an
    escaped `\\u00e9` counted six bytes for a two-byte character)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))  # measured, whatever it holds


def _require_user(request: AuthRequest) -> None:
    anonymous = request.auth_context.get("auth") == "anonymous"
    sender = request.auth_context.get(SENDER_CLAIM)  # only this server sets it
    if not request.auth_context.get("sub") and not anonymous and not sender:
        raise ApiError(
            403,
            "the token names no end user: sign it with an auth context that has `sub`",
            "missing-user",
        )


def _rejected(verb: str) -> ApiError:
    return ApiError(
        403,
        f"the machine's allow{verb.title()} rejected this request for this auth context",
        "rejected-by-machine-authorizer",
    )


def _log_rows(
    machine: str, slug: str, version_id: str, logs: Sequence[LogLine]
) -> list[tuple[datetime, str, str, str, str, str]]:
    return [
        (
            datetime.fromtimestamp(line.timestamp, UTC),
            machine,
            slug,
            version_id,
            line.output_type,
            line.text,
        )
        for line in RunLog.of(logs)
    ]


def _index_entries(value: JSON) -> list[str | int | float]:
    """An instance's entries in one index: an array fans out into one per element (as
    State Backed's JSONPath selectors do), each a string or a number; no others."""
    values = value if isinstance(value, list) else [value]
    entries = [_index_value(v) for v in values]
    return list(dict.fromkeys(e for e in entries if e is not None))


def _index_value(value: JSON) -> str | int | float | None:
    """What SQLite can index: a string or a number; anything else is no value."""
    if isinstance(value, bool) or value is None:
        return None if value is None else int(value)
    if isinstance(value, int):
        # Beyond 64 bits SQLite cannot store an integer; the number still sorts as a float.
        return value if -(2**63) <= value < 2**63 else float(value)
    return value if isinstance(value, str | float) else None


def version_body(version: VersionRow) -> dict[str, JSON]:
    """A machine version as the API gives it."""
    return {"id": version.id, "createdAt": version.created_at, "clientInfo": version.label}


def version_wire(version: VersionRow | None) -> dict[str, JSON] | None:
    return None if version is None else version_body(version)


def index_value_wire(value: JSON) -> str | None:
    """An index value as State Backed sends it: text (numbers as JavaScript writes them)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value)

"""The XState engine: State Backed machine modules, run in worker processes on V8.

A module is what `smply machine-versions create` uploads: an ES module bundled by esbuild
(xstate inside) exporting `default` (a machine made with `createMachine`) and maybe
`allowRead` and `allowWrite`; a migration module exports `upgradeState` and/or
`upgradeContext`. V8 runs it as a script, not as a module (measured: a script cannot hold
`export`), so the bundle becomes a function whose body is the module and whose value is its
exports (`xstate_module.wrap_module`); the function is called afresh for every run.

Machine code never runs in this process, and V8 is never loaded here: a `WorkerPool` of
processes (`xstate_worker`) runs it, each holding every module loaded. A call goes to the
least busy worker; every call has a deadline measured here, outside V8 (the CPU limit, or
the settle time-out once the worker says the run's services are running): past it, or past
the worker's memory cap, the worker is killed and replaced, the call is answered
`machine-cpu-limit` or `machine-memory-limit`, and nothing is stored. A worker that dies for
any other reason (a crash) is replaced the same way and its calls fail with
`machine-worker-lost`. The server's loop only ever awaits a pipe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smb_tui.local.definitions import JSON, AuthRequest, IndexSelector, MachineVersion, Snapshot
from smb_tui.local.engines.seam import (
    Engine,
    LogLine,
    MachineError,
    Message,
    Outcome,
    Refused,
    Spawn,
    StateView,
    Step,
    Timer,
    select_indexes,
)
from smb_tui.local.engines.xstate_pool import (
    SLACK_SECONDS,
    LimitReached,
    MachineCodeFailed,
    WorkerLost,
    WorkerPool,
)
from smb_tui.local.engines.xstate_worker import (
    CPU_SECONDS,
    SETTLE_ERROR,
)


@dataclass(frozen=True)
class XStateModule:
    """One machine version's module, loaded into a pool's workers."""

    path: Path
    pool: WorkerPool
    key: str
    exports: tuple[str, ...]


@dataclass(frozen=True)
class XStateMigration:
    """A migration module: from the version before to the one it is attached to."""

    path: Path
    pool: WorkerPool
    key: str


def load_module(path: Path, pool: WorkerPool) -> XStateModule:
    module = pool.load(path.read_text(), "machine")
    return XStateModule(path, pool, module.key, pool.exports[module.key])


def load_migration(path: Path, pool: WorkerPool, to: XStateModule) -> XStateMigration:
    module = pool.load(path.read_text(), "migration", target=to.key)
    return XStateMigration(path, pool, module.key)


class XStateEngine:
    """The `Engine` for XState modules."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def _lines(self, entries: Sequence[Sequence[str]]) -> list[LogLine]:
        now = self.clock()
        return [LogLine(now, stream, text) for stream, text in entries]

    async def _run(
        self,
        version: MachineVersion,
        instance: str,
        state: JSON | None,
        context: dict[str, JSON],
        events: list[dict[str, JSON]],
        settle_timeout: float,
        check: AuthRequest | None,
        parent: Mapping[str, str] | None = None,
        replay: bool = False,
    ) -> Outcome:
        module = _module(version)
        arguments = None
        if check is not None and "allowWrite" in module.exports:
            arguments = _authorizer_arguments(check)
        message = {
            "op": "run",
            "key": module.key,
            "instance": instance,
            "state": state,
            "context": context,
            "events": events,
            "settle": settle_timeout,
            "check": arguments,
            "parent": dict(parent) if parent is not None else None,
            "replay": replay,
        }
        try:
            answer = await module.pool.call(
                message, CPU_SECONDS + SLACK_SECONDS, settle_timeout + CPU_SECONDS
            )
        except LimitReached as error:
            line = LogLine(self.clock(), "stderr", f"{error}; the event was refused")
            raise MachineError(str(error), [line], error.code) from error
        except WorkerLost as error:
            line = LogLine(self.clock(), "stderr", f"{error}; the event was refused")
            raise MachineError(str(error), [line], "machine-worker-lost") from error
        except MachineCodeFailed as error:
            raise MachineError(
                f"the machine's code failed: {error.line}",
                [LogLine(self.clock(), "stderr", str(error))],
            ) from error
        if "refused" in answer:
            raise Refused(answer["refused"] or None, self._lines(answer["logs"]))
        if "failure" in answer:
            trace = answer["failure"]
            raise MachineError(
                f"the machine's code failed: {trace.splitlines()[0] if trace else 'an error'}",
                [*self._lines(answer["logs"]), LogLine(self.clock(), "stderr", trace)],
            )
        return self._outcome(answer)

    def _outcome(self, answer: dict[str, Any]) -> Outcome:
        outcome = Outcome()
        for event, state in answer["steps"]:
            context = state.get("context") or {}
            outcome.steps.append(Step(event, Snapshot(_without(state, "context"), context)))
        for key, event, seconds in answer["timers"]:
            plain = event if isinstance(event, dict) else {"type": str(event)}
            outcome.timers.append(Timer(key, plain, float(seconds)))
        outcome.cancelled = list(answer["cancelled"])
        outcome.stopped_services = list(answer["stopped"])
        outcome.pending = [
            {
                "type": f"error.platform.{service}",
                "data": {
                    "name": SETTLE_ERROR,
                    "message": f"service {service} was stopped: the instance did not settle"
                    " in time",
                },
            }
            for service in answer["stopped"]
        ]
        outcome.logs = self._lines(answer["logs"])
        outcome.spawns = [
            Spawn(
                str(spawn["machineName"]),
                str(spawn["machineInstanceName"]),
                spawn.get("machineVersionId"),
                spawn.get("context") if isinstance(spawn.get("context"), dict) else None,
            )
            for spawn in answer.get("spawns", [])
        ]
        outcome.sends = [
            Message(
                str(sent["machineName"]),
                str(sent["machineInstanceName"]),
                sent["event"] if isinstance(sent["event"], dict) else {"type": str(sent["event"])},
            )
            for sent in answer.get("sends", [])
        ]
        return outcome

    async def start(
        self,
        version: MachineVersion,
        context: dict[str, JSON],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
        replay: bool = False,
    ) -> Outcome:
        """`replay`: no service or spawned actor runs (see `smb_tui.local.replay`)."""
        return await self._run(
            version, instance, None, context, [], settle_timeout, check, parent, replay
        )

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
        replay: bool = False,
    ) -> Outcome:
        return await self._run(
            version,
            instance,
            snapshot.state,
            snapshot.context,
            list(events),
            settle_timeout,
            check,
            parent,
            replay,
        )

    def index_values(
        self, version: MachineVersion, snapshot: Snapshot, indexes: Mapping[str, IndexSelector]
    ) -> dict[str, JSON]:
        """The manifest's selectors (JSON pointers) into the instance's context."""
        return select_indexes(indexes, snapshot.context)

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        state = snapshot.state if isinstance(snapshot.state, dict) else {}
        tags = state.get("tags") or []
        return StateView(state.get("value", {}), list(tags), bool(state.get("done")))

    async def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        """allowRead / allowWrite with the arguments `@statebacked/machine` types."""
        kind = "read" if request.type == "read" else "write"
        module = _module(version)
        if ("allowRead" if kind == "read" else "allowWrite") not in module.exports:
            return True  # none exported: all allowed, as a Python version without one
        message = {
            "op": "authorize",
            "key": module.key,
            "instance": request.machine_instance_name,
            "kind": kind,
            "request": _authorizer_arguments(request),
        }
        allowed = await module.pool.call(message, CPU_SECONDS + SLACK_SECONDS)
        return bool(allowed)

    async def definition(self, version: MachineVersion) -> dict[str, JSON]:
        """The machine's states and transitions (see `seam.Engine.definition`)."""
        module = _module(version)
        try:
            found = await module.pool.call(
                {"op": "definition", "key": module.key}, CPU_SECONDS + SLACK_SECONDS
            )
        except MachineCodeFailed as error:
            raise MachineError(f"the machine's code failed: {error.line}") from error
        except (LimitReached, WorkerLost) as error:
            raise MachineError(str(error)) from error
        definition: dict[str, JSON] = found
        return definition

    async def at_state(
        self, version: MachineVersion, value: JSON, context: dict[str, JSON]
    ) -> Snapshot:
        """See `seam.Engine.at_state`."""
        module = _module(version)
        message = {"op": "resolve", "key": module.key, "value": value, "context": context}
        try:
            state = await module.pool.call(message, CPU_SECONDS + SLACK_SECONDS)
        except MachineCodeFailed as error:
            raise MachineError(f"not a state of this version: {error.line}") from error
        except (LimitReached, WorkerLost) as error:
            raise MachineError(str(error)) from error
        return Snapshot(_without(state, "context"), state.get("context") or {})

    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        migration = to.migrate
        module = _module(to)
        if not isinstance(migration, XStateMigration):
            raise MachineError(f"no migration module leads to version {to.label!r}")
        message = {
            "op": "migrate",
            "migration": migration.key,
            "key": module.key,
            "state": snapshot.state,
            "context": snapshot.context,
        }
        try:
            state = await module.pool.call(message, CPU_SECONDS + SLACK_SECONDS)
        except MachineCodeFailed as error:
            raise MachineError(
                f"the migration {migration.path.name} failed: {error.line}"
            ) from error
        except (LimitReached, WorkerLost) as error:
            raise MachineError(f"the migration {migration.path.name} failed: {error}") from error
        return Snapshot(_without(state, "context"), state.get("context") or {})


class MixedEngine:
    """Python charts and XState modules side by side: each version to its own engine."""

    def __init__(self, python: Engine, xstate: XStateEngine) -> None:
        self.python = python
        self.xstate = xstate

    def _for(self, version: MachineVersion) -> Engine:
        return self.xstate if isinstance(version.chart, XStateModule) else self.python

    async def start(
        self,
        version: MachineVersion,
        context: dict[str, JSON],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
    ) -> Outcome:
        return await self._for(version).start(
            version, context, settle_timeout, machine, check, instance, parent
        )

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
    ) -> Outcome:
        engine = self._for(version)
        return await engine.apply(
            version, snapshot, events, settle_timeout, machine, check, instance, parent
        )

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        return self._for(version).view(version, snapshot)

    def index_values(
        self, version: MachineVersion, snapshot: Snapshot, indexes: Mapping[str, IndexSelector]
    ) -> dict[str, JSON]:
        return self._for(version).index_values(version, snapshot, indexes)

    async def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        return await self._for(version).authorize(version, request)

    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        return await self._for(to).migrate(to, snapshot)

    async def definition(self, version: MachineVersion) -> dict[str, JSON]:
        return await self._for(version).definition(version)

    async def at_state(
        self, version: MachineVersion, value: JSON, context: dict[str, JSON]
    ) -> Snapshot:
        return await self._for(version).at_state(version, value, context)


def _authorizer_arguments(request: AuthRequest) -> dict[str, JSON]:
    """What allowRead / allowWrite get, exactly as `@statebacked/machine` types it."""
    arguments: dict[str, JSON] = {
        "machineInstanceName": request.machine_instance_name,
        "context": dict(request.context),
        "authContext": dict(request.auth_context),
    }
    if request.type != "initialization":
        arguments["state"] = request.state
    if request.type != "read":
        arguments["type"] = request.type
    if request.type == "event":
        arguments["event"] = request.event
    return arguments


def _module(version: MachineVersion) -> XStateModule:
    module = version.chart
    assert isinstance(module, XStateModule), "not an XState module"
    return module


def _without(state: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != key}

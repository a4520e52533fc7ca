"""The seam between the server and the code that runs machines.

The server knows machines only through `Engine`: start an instance, apply events to a
snapshot until it settles, describe a snapshot as State Backed shows it, authorize,
migrate and give index values. Two engines implement it: `statechart` (python-statemachine
charts, in the server's process) and `xstate` (XState modules, on V8 in worker processes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from smb_tui.local.definitions import JSON, AuthRequest, IndexSelector, MachineVersion, Snapshot


class MachineError(Exception):
    """The machine's own code failed in a way the statechart could not absorb.

    `logs` is what the code printed before it failed, and the traceback (stderr): the
    event is refused and nothing of it is stored, but these go to the instance's logs.
    """

    def __init__(
        self, message: str, logs: Sequence[LogLine] = (), code: str = "machine-error"
    ) -> None:
        super().__init__(message)
        self.logs = list(logs)
        self.code = code


class Refused(Exception):
    """The version's allowWrite said no to a write asked of `start`/`apply` with `check`;
    `error` is what it raised, when it raised; `logs` what it printed."""

    def __init__(self, error: str | None = None, logs: Sequence[LogLine] = ()) -> None:
        super().__init__(error or "allowWrite said no")
        self.error = error
        self.logs = list(logs)


@dataclass(frozen=True)
class StateView:
    """A snapshot as the API shows it."""

    value: JSON
    tags: list[str]
    done: bool


@dataclass(frozen=True)
class Step:
    """One applied event and the snapshot it led to: one row of transition history."""

    event: dict[str, JSON]
    snapshot: Snapshot


@dataclass(frozen=True)
class LogLine:
    timestamp: float
    output_type: str
    text: str


@dataclass(frozen=True)
class Timer:
    """A delayed event the engine set: under `key` (what cancels it), `event` after
    `seconds`. The server fires it durably, also across restarts."""

    key: str
    event: dict[str, JSON]
    seconds: float


@dataclass(frozen=True)
class Spawn:
    """A persistent instance machine code spawned (State Backed's spawnPersistentInstance):
    made, with this instance as its parent, once the run is stored."""

    machine: str
    instance: str
    version_id: str | None = None
    context: dict[str, JSON] | None = None


@dataclass(frozen=True)
class Message:
    """An event machine code sent to another persistent instance (@statebacked/machine's
    sendTo, or sendParent from a spawned one): delivered once the run is stored."""

    machine: str
    instance: str
    event: dict[str, JSON]


@dataclass
class Outcome:
    """What applying events did, for the server to persist in one transaction."""

    steps: list[Step] = field(default_factory=list)
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)  # set by these events
    cancelled: list[str] = field(default_factory=list)  # keys of timers they cancelled
    stopped_services: list[str] = field(default_factory=list)
    pending: list[dict[str, JSON]] = field(default_factory=list)  # before the next event
    logs: list[LogLine] = field(default_factory=list)
    spawns: list[Spawn] = field(default_factory=list)  # made after the commit, in order
    sends: list[Message] = field(default_factory=list)  # delivered after them, in order

    @property
    def final(self) -> Snapshot:
        return self.steps[-1].snapshot


class Engine(Protocol):
    """What the server asks of the code that runs machines. `machine` is the machine's
    name, for the names an engine gives delayed events."""

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
        """A new instance (named `instance`). With `check`, the version's allowWrite is
        asked first, as part of the same run (for an XState module, the same call into V8):
        `Refused` when it says no, and nothing runs. `parent`: the persistent instance
        that spawned it (`machineName`, `machineInstanceName`), where sendParent goes."""
        ...

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
        """`events` applied to `snapshot` (of the instance named `instance`); `check` and
        `parent` as for `start`."""
        ...

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView: ...

    async def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        """The version's allowRead (request.type "read") or allowWrite answer; raising
        counts as no."""
        ...

    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        """`snapshot` of the version before `to`, as a snapshot of `to`."""
        ...

    async def at_state(
        self, version: MachineVersion, value: JSON, context: dict[str, JSON]
    ) -> Snapshot:
        """A snapshot of `version` in the state `value` (a state value as the API shows
        it) with `context`, nothing run (a copy of an instance made elsewhere).
        MachineError when `value` is not a state of the version."""
        ...

    async def definition(self, version: MachineVersion) -> dict[str, JSON]:
        """The version's statechart, for drawing it: `{"id", "root"}`, each state
        `{"id", "key" (its name in state values), "type" (atomic, compound, parallel,
        final, history), "initial" (a child's key or null), "tags", "invokes" (names),
        "transitions", "states" (children, in order)}`, each transition `{"event" (null:
        eventless or delayed), "targets" (state ids), "guard" (a name or null), "delay"
        (ms or null), "always"}`."""
        ...

    def index_values(
        self, version: MachineVersion, snapshot: Snapshot, indexes: Mapping[str, IndexSelector]
    ) -> dict[str, JSON]:
        """The snapshot's value in each of the machine's indexes (`indexes`: the
        definition's selectors); None where it has none."""
        ...


async def ask_first(engine: Engine, version: MachineVersion, check: AuthRequest | None) -> None:
    """For an engine's `start`/`apply`: `Refused` unless `check` is None or the engine's
    own `authorize` allows it (raising counts as no, and says what it raised)."""
    if check is None:
        return
    try:
        allowed = await engine.authorize(version, check)
    except Exception as error:
        raise Refused(repr(error)) from error
    if not allowed:
        raise Refused()


def select_indexes(indexes: Mapping[str, IndexSelector], context: JSON) -> dict[str, JSON]:
    """Each selector applied to the context; one that raises selects nothing."""
    values: dict[str, JSON] = {}
    for name, selector in indexes.items():
        try:
            values[name] = selector(context)
        except Exception:
            values[name] = None
    return values

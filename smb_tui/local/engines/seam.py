"""The seam between the server and the code that runs machines.

The server knows machines only through `Engine`: start an instance, apply events to a
snapshot until it settles, describe a snapshot as State Backed shows it, authorize,
migrate and give index values. Two engines implement it: `statechart` (python-statemachine
charts, in the server's process) and `xstate` (XState modules, on V8 in worker processes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


# What is kept of what machine code prints in one run. State Backed documents no limits;
# with none, one `console.log` of 70 MB made every page of logs from it on larger than a
# client reads (64 MB), so no follower got past it, and a print in a loop filled the
# store. A line of 64,000 characters keeps a page of 100 under 40 MB, however escaped.
MAX_LOG_CHARS = 64_000
MAX_LOG_LINES = 10_000
MAX_RUN_LOG_CHARS = 4_000_000  # all of one run's lines


@dataclass(frozen=True)
class CutLine(LogLine):
    """A line cut at MAX_LOG_CHARS, saying so at its end (not cut again)."""


@dataclass(frozen=True)
class LinesLeftOut(LogLine):
    """The line that says `count` lines of a run were not kept (it counts as them when
    a run's lines are kept again, as a cut line is not cut again: keeping what was kept
    changes nothing)."""

    count: int


class RunLog:
    """What is kept of one run's lines, taken as they come: each cut at MAX_LOG_CHARS,
    and none once MAX_LOG_LINES or MAX_RUN_LOG_CHARS are reached, only counted. An
    engine that hears prints as they happen holds no more than this, however many a
    loop makes (a python machine's hundred thousand lines were held whole, then cut)."""

    def __init__(self) -> None:
        self._lines: list[LogLine] = []
        self._room = MAX_RUN_LOG_CHARS
        self._left_out = 0
        self._last_at = 0.0

    @classmethod
    def of(cls, lines: Iterable[LogLine]) -> list[LogLine]:
        run = cls()
        for line in lines:
            run.add(line)
        return run.kept()

    def add(self, line: LogLine) -> None:
        if isinstance(line, LinesLeftOut) or self._left_out or self._full():
            self._left_out += line.count if isinstance(line, LinesLeftOut) else 1
            self._last_at = line.timestamp
            return
        if len(line.text) > MAX_LOG_CHARS and not isinstance(line, CutLine):
            line = CutLine(
                line.timestamp,
                line.output_type,
                f"{line.text[:MAX_LOG_CHARS]}… [smb-tui local kept {MAX_LOG_CHARS:,} of"
                f" this line's {len(line.text):,} characters]",
            )
        self._lines.append(line)
        self._room -= len(line.text)

    def _full(self) -> bool:
        return len(self._lines) == MAX_LOG_LINES or self._room <= 0

    def kept(self) -> list[LogLine]:
        """The lines kept, and a last one saying how many more there were, if any."""
        if not self._left_out:
            return list(self._lines)
        said = f"{self._left_out:,} more lines of this run not kept"
        limits = f"at most {MAX_LOG_LINES:,} lines, {MAX_RUN_LOG_CHARS:,} characters a run"
        text = f"smb-tui local: {said} ({limits})"
        return [*self._lines, LinesLeftOut(self._last_at, "stderr", text, self._left_out)]


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

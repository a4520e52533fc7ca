"""The API's shapes as pydantic models. Unknown fields are kept, never refused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypeAliasType

from smb_tui.api.errors import InvalidSlug
from smb_tui.api.wire import SLUG

# Not in State Backed's API, which does not say whether a send settled: the local server
# names the services it stopped at its settle time-out (empty: it settled).
STOPPED_SERVICES_HEADER = "x-smb-stopped-services"

# A leaf state's name, or {parent: child value}; a parallel state has several keys.
StateValue = TypeAliasType("StateValue", "str | dict[str, StateValue]")  # type: ignore[misc]
JSONValue: TypeAlias = Any


def check_slug(value: str, what: str = "slug") -> str:
    """A slug State Backed accepts, or InvalidSlug before any request is built."""
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise InvalidSlug(
            f"{what} {value!r} is not a valid name: use 1 to 128 letters, digits, '-' or '_'"
        )
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class EventObject(Model):
    """An event with a payload: `{type, ...payload}`."""

    type: str


Event: TypeAlias = str | EventObject


def event_json(event: Event | dict[str, Any]) -> JSONValue:
    if isinstance(event, EventObject):
        return event.model_dump()
    return event


class MachineVersionInfo(Model):
    id: str
    created_at: str = Field(alias="createdAt")
    client_info: JSONValue = Field(default=None, alias="clientInfo")


class CodeUpload(Model):
    """A provisional machine version or migration: its signed id (`machineVersionId` or
    `machineVersionMigrationId`) and where its code goes."""

    signed_id: str = Field(
        validation_alias=AliasChoices("machineVersionId", "machineVersionMigrationId")
    )
    url: str = Field(alias="codeUploadUrl")
    fields: dict[str, str] = Field(alias="codeUploadFields")


class MachineSummary(Model):
    slug: str
    created_at: str = Field(alias="createdAt")
    current_version: MachineVersionInfo | None = Field(default=None, alias="currentVersion")


class Machine(Model):
    created_at: str = Field(alias="createdAt")
    current_version: MachineVersionInfo | None = Field(default=None, alias="currentVersion")
    indexes: list[str] = Field(default_factory=list)


class ChartTransition(Model):
    """A transition of a drawn statechart (smb-tui's local server only)."""

    event: str | None = None  # None: eventless (`always`) or delayed
    targets: list[str] = Field(default_factory=list)  # state ids; none: stays (internal)
    guard: str | None = None
    delay: int | str | None = None  # ms (or a named delay), for a delayed transition
    always: bool = False


class ChartState(Model):
    """A state of a drawn statechart: `key` is its name in state values."""

    id: str
    key: str
    type: str = "atomic"  # atomic, compound, parallel, final, history
    initial: str | None = None
    tags: list[str] = Field(default_factory=list)
    invokes: list[str] = Field(default_factory=list)
    transitions: list[ChartTransition] = Field(default_factory=list)
    states: list[ChartState] = Field(default_factory=list)


class StatechartDefinition(Model):
    """`GET /machines/M/v/V/definition`: a version's states and transitions, as the
    local server's engines give them. State Backed has no such route."""

    id: str
    root: ChartState


class InstanceSummary(Model):
    slug: str
    created_at: str = Field(alias="createdAt")
    status: Literal["running", "paused"] | str = "running"
    machine_version: MachineVersionInfo | None = Field(default=None, alias="machineVersion")


class State(Model):
    ts: int | float
    state: StateValue
    public_context: dict[str, JSONValue] = Field(default_factory=dict, alias="publicContext")
    tags: list[str] = Field(default_factory=list)
    done: bool = False


class Sent(BaseModel):
    """What a send (or a create) came back with, and whether the instance settled.

    `settled` is None when the server does not say (State Backed): then an answer
    that took as long as its settle time-out may have been given with services still
    running, which were then stopped.
    """

    model_config = ConfigDict(frozen=True)
    state: State
    seconds: float
    settled: bool | None
    stopped_services: tuple[str, ...] = ()


class AdministrativeInstanceState(Model):
    state: StateValue
    context: dict[str, JSONValue] = Field(default_factory=dict)
    status: str = "running"
    tags: list[str] = Field(default_factory=list)
    done: bool = False
    machine_version: MachineVersionInfo | None = Field(default=None, alias="machineVersion")
    desired_machine_version: MachineVersionInfo | None = Field(
        default=None, alias="desiredMachineVersion"
    )
    created_at: str | None = Field(default=None, alias="createdAt")
    ts: int | float | None = None


class Transition(Model):
    created_at: str = Field(alias="createdAt")
    state: StateValue
    event: str | dict[str, JSONValue]


class IndexEntry(Model):
    slug: str
    index_value: JSONValue = Field(default=None, alias="indexValue")


class LogEntry(Model):
    timestamp: str
    org_id: str | None = Field(default=None, alias="orgId")
    machine_name: str = Field(alias="machineName")
    instance_name: str = Field(alias="instanceName")
    machine_version_id: str | None = Field(default=None, alias="machineVersionId")
    output_type: str = Field(default="stdout", alias="outputType")
    log: str


class Logs(Model):
    max_timestamp: str = Field(alias="maxTimestamp")
    logs: list[LogEntry] = Field(default_factory=list)


class TokenResponse(Model):
    access_token: str = Field(repr=False)
    issued_token_type: str | None = None
    token_type: str = "Bearer"


class InstanceUpdate(Model):
    """A realtime update: the latest known state of a subscribed instance."""

    type: Literal["instance-update"] = "instance-update"
    machine_name: str = Field(alias="machineName")
    machine_instance_name: str = Field(alias="machineInstanceName")
    public_context: dict[str, JSONValue] = Field(default_factory=dict, alias="publicContext")
    ts: int | float | None = None
    state: StateValue
    tags: list[str] = Field(default_factory=list)
    done: bool = False


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of a list, and the cursor of the next (None on the last page)."""

    items: Sequence[T]
    cursor: str | None = None


class Transitions(Sequence[Transition]):
    """A page's transitions: the JSON objects as the server sent them (`records`), each
    already checked to be a `Transition`, and the models made of them when first asked
    for, all at once. What only needs their fields (the dashboard's rows, the history
    cache) reads the records: pydantic making a model of each row was half of what the
    dashboard did with a page."""

    __slots__ = ("_models", "records")

    def __init__(self, records: list[dict[str, Any]]) -> None:
        # Each has `createdAt` (str), `event` and `state` as the model reads them.
        self.records = records
        self._models: list[Transition] | None = None

    def _all(self) -> list[Transition]:
        if self._models is None:
            self._models = _TRANSITIONS.validate_python(self.records)
        return self._models

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Transition: ...
    @overload
    def __getitem__(self, index: slice) -> list[Transition]: ...
    def __getitem__(self, index: int | slice) -> Transition | list[Transition]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Transition]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._all() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares as the list it stands for

    def __repr__(self) -> str:
        return f"Transitions({self._all()!r})"


_TRANSITIONS = TypeAdapter(list[Transition])


# -- The answers' envelopes, as the wire has them. The local server documents its routes
# -- with these (`/openapi.json`); the client reads the same items page by page (`Page`).


class ErrorBody(Model):
    """Every error answer: `{error, code?, parameter?}`."""

    error: str
    code: str | None = None
    parameter: str | None = None


class MachinesPage(Model):
    machines: list[MachineSummary]
    cursor: str | None = None


class MachineBody(Model):
    machine: Machine


class VersionsPage(Model):
    versions: list[MachineVersionInfo]
    cursor: str | None = None


class InstancesPage(Model):
    instances: list[InstanceSummary]
    cursor: str | None = None


class TransitionsPage(Model):
    transitions: list[Transition]
    cursor: str | None = None


class IndexPage(Model):
    instances: list[IndexEntry]
    cursor: str | None = None

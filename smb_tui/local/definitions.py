"""How a machine is defined for the local server: a Python module per machine.

A definition module holds a python-statemachine `StateChart` and, beside it, what
State Backed keeps next to an XState machine: the `allowRead` / `allowWrite`
authorizers, tags, delayed transitions (`after`), index selectors and versions with
migrations. The module exposes one `MachineDefinition` named `machine`:

    machine = MachineDefinition(
        slug="toggle",
        versions=[MachineVersion("v1", Toggle, allow_write=owner_only)],
    )
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from statemachine import StateChart

from smb_tui.api.wire import SLUG

JSON = Any
SLUG_PATTERN = SLUG.pattern  # the client checks slugs with the same expression


@dataclass(frozen=True)
class AuthRequest:
    """What an authorizer is asked: may `auth_context` read or write this instance?"""

    type: Literal["initialization", "event", "read"]
    machine_name: str
    machine_instance_name: str
    auth_context: Mapping[str, JSON]
    context: Mapping[str, JSON]
    state: JSON = None
    event: JSON = None


Authorizer = Callable[[AuthRequest], bool]


def allow_all(request: AuthRequest) -> bool:
    return True


@dataclass(frozen=True)
class Snapshot:
    """The persisted part of an instance: the engine's own record of where it is (plain
    JSON only its engine reads: python-statemachine's active state ids, XState's state
    JSON) and its whole context.

    `history`: where each history pseudo-state would lead back to (python-statemachine's
    history values: a history state's id -> the ids of the states it restores), which
    the chart keeps beside its active states; XState keeps its own inside `state`. A
    migration that leaves it out starts the new version with none recorded."""

    state: JSON
    context: dict[str, JSON]
    history: dict[str, list[str]] = field(default_factory=dict)


Migration = Callable[[Snapshot], Snapshot]
IndexSelector = Callable[[Mapping[str, JSON]], JSON]  # context -> the value indexed


@dataclass(frozen=True)
class MachineVersion:
    """One version of a machine: what its engine runs (`chart`: a python-statemachine
    `StateChart` class for the default engine) and what runs beside it.

    `tags` maps a state id to its tags; `after` maps a state id to the delayed
    transitions it starts on entry, as (seconds, event type) pairs; `migrate`
    turns a snapshot of the previous version into one of this version.
    """

    label: str
    chart: type[StateChart] | Any
    allow_read: Authorizer = allow_all
    allow_write: Authorizer = allow_all
    tags: Mapping[str, Sequence[str]] = field(default_factory=dict)
    after: Mapping[str, Sequence[tuple[float, str]]] = field(default_factory=dict)
    # A Python version: a function; an XState module: its engine's migration module.
    migrate: Migration | object | None = None
    # A deployed version: the id it was given, and its own index selectors.
    id: str | None = None
    indexes: Mapping[str, IndexSelector] | None = None
    # A version --watch made with no migration: its `migrate` keeps the state, and an
    # instance whose state no longer exists in it stays at its version instead.
    keeps_state: bool = False


@dataclass(frozen=True)
class MachineDefinition:
    """A machine: its slug, its versions (oldest first; the last is current) and indexes."""

    slug: str
    versions: Sequence[MachineVersion]
    indexes: Mapping[str, IndexSelector] = field(default_factory=dict)
    current_id: str | None = None  # a deployed machine's current version (else the last)
    # Migrations between any two versions, forward or back: (from id, to id) -> migration
    # (besides each version's own `migrate`, from the version before it).
    migrations: Mapping[tuple[str, str], Migration | object] = field(default_factory=dict)
    # Each version by its id, and each id by the version object: found once, not hashed
    # and searched for on every event (a machine --watch has saved 500 times has 500).
    _by_id: dict[str, MachineVersion] = field(init=False, repr=False, compare=False)
    _ids: dict[int, tuple[MachineVersion, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError(f"machine {self.slug!r} has no versions")
        ids = [self._made_id(v) for v in self.versions]
        if len(set(ids)) != len(ids):
            labels = [v.label for v in self.versions]
            raise ValueError(f"machine {self.slug!r} repeats a version label: {labels}")
        object.__setattr__(self, "_by_id", dict(zip(ids, self.versions, strict=True)))
        object.__setattr__(
            self, "_ids", {id(v): (v, i) for v, i in zip(self.versions, ids, strict=True)}
        )

    @property
    def current(self) -> MachineVersion:
        if self.current_id is not None:
            return self.version_by_id(self.current_id) or self.versions[-1]
        return self.versions[-1]

    def indexes_of(self, version: MachineVersion) -> Mapping[str, IndexSelector]:
        """The selectors a version's instances are indexed by."""
        return self.indexes if version.indexes is None else version.indexes

    def version_id(self, version: MachineVersion) -> str:
        """A stable id, so a restarted server keeps pointing instances at their version."""
        known = self._ids.get(id(version))
        if known is not None and known[0] is version:
            return known[1]
        return self._made_id(version)

    def _made_id(self, version: MachineVersion) -> str:
        if version.id is not None:
            return version.id
        digest = hashlib.sha256(f"{self.slug}\0{version.label}".encode()).hexdigest()[:16]
        return f"mv_{digest}"

    def version_by_id(self, version_id: str) -> MachineVersion | None:
        return self._by_id.get(version_id)

    def migration_path(self, from_id: str, to_id: str) -> list[MachineVersion] | None:
        """The versions to migrate through, in order, each carrying (as `migrate`) the
        migration that leads to it; None when no migrations lead there. As State Backed
        does, every migration of the machine is an edge, whichever versions it joins: the
        path is the shortest, forward or back."""
        ids = [self.version_id(v) for v in self.versions]
        if from_id not in ids or to_id not in ids:
            return None
        if to_id == from_id:
            return []
        edges: dict[str, list[tuple[str, Migration | object]]] = {}
        for before, version in zip(ids, self.versions[1:], strict=False):
            if version.migrate is not None:
                edges.setdefault(before, []).append((self.version_id(version), version.migrate))
        for (start, end), migration in self.migrations.items():
            if start in ids and end in ids:
                edges.setdefault(start, []).append((end, migration))
        came_from: dict[str, tuple[str, Migration | object]] = {}
        frontier = [from_id]
        while frontier and to_id not in came_from:
            following = []
            for at in frontier:
                for end, migration in edges.get(at, []):
                    if end != from_id and end not in came_from:
                        came_from[end] = (at, migration)
                        following.append(end)
            frontier = following
        if to_id not in came_from:
            return None
        path: list[MachineVersion] = []
        at = to_id
        while at != from_id:
            before, migration = came_from[at]
            version = self.versions[ids.index(at)]
            path.append(dataclasses.replace(version, migrate=migration))
            at = before
        return path[::-1]

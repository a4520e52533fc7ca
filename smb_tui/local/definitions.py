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

import hashlib
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from statemachine import StateChart

from smb_tui.api.models import SLUG

JSON = Any
SLUG_PATTERN = SLUG.pattern
log = logging.getLogger(__name__)  # the client checks slugs with the same expression


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
    JSON) and its whole context."""

    state: JSON
    context: dict[str, JSON]


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


@dataclass(frozen=True)
class MachineDefinition:
    """A machine: its slug, its versions (oldest first; the last is current) and indexes."""

    slug: str
    versions: Sequence[MachineVersion]
    indexes: Mapping[str, IndexSelector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError(f"machine {self.slug!r} has no versions")
        labels = [v.label for v in self.versions]
        if len(set(labels)) != len(labels):
            raise ValueError(f"machine {self.slug!r} repeats a version label: {labels}")

    @property
    def current(self) -> MachineVersion:
        return self.versions[-1]

    def version_id(self, version: MachineVersion) -> str:
        """A stable id, so a restarted server keeps pointing instances at their version."""
        digest = hashlib.sha256(f"{self.slug}\0{version.label}".encode()).hexdigest()[:16]
        return f"mv_{digest}"

    def version_by_id(self, version_id: str) -> MachineVersion | None:
        return next((v for v in self.versions if self.version_id(v) == version_id), None)

    def migration_path(self, from_id: str, to_id: str) -> list[MachineVersion] | None:
        """The versions to migrate through, in order, or None when there is no path."""
        ids = [self.version_id(v) for v in self.versions]
        if from_id not in ids or to_id not in ids:
            return None
        start, end = ids.index(from_id), ids.index(to_id)
        if end < start:
            return None
        path = list(self.versions[start + 1 : end + 1])
        if any(v.migrate is None for v in path):
            return None
        return path


def load_definitions(
    directory: Path, *, allow_fetch: bool = False, loader: ModuleLoader | None = None
) -> list[MachineDefinition]:
    """The machines in `directory`, sorted by name: every `*.py` that defines `machine`;
    every `NAME.js` / `NAME.mjs` (an XState module: machine NAME, one version "v1"); every
    folder `NAME/` of such modules (one version each, sorted by file name: the last is
    current), with an optional `machine.json` naming migration modules and index
    selectors. A module that does not load is logged, naming the file and the error,
    and the other machines still load. All modules share one V8 worker (`allow_fetch`:
    may their code reach the network)."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a folder of machine definitions")
    loader = loader or ModuleLoader(allow_fetch)
    found: list[MachineDefinition] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            found.append(_python_definition(path))
        elif path.suffix in MODULE_SUFFIXES and path.is_file():
            versions = loader.versions(path.stem, [path], {}, single=True)
            if versions:
                found.append(MachineDefinition(slug=path.stem, versions=versions))
        elif path.is_dir():
            definition = loader.folder(path)
            if definition is not None:
                found.append(definition)
    return found


MODULE_SUFFIXES = (".js", ".mjs")
MANIFEST = "machine.json"


class ModuleLoader:
    """Loads XState modules into one worker, made when the first module is found."""

    def __init__(self, allow_fetch: bool) -> None:
        self.allow_fetch = allow_fetch
        self._worker: Any = None

    @property
    def worker(self) -> Any:
        if self._worker is None:
            from smb_tui.local.xstate_engine import Worker

            self._worker = Worker(allow_fetch=self.allow_fetch)
        return self._worker

    @property
    def started(self) -> bool:
        """Was a worker made (some XState module was found)?"""
        return self._worker is not None

    def close(self) -> None:
        """Free the worker's V8 isolate (an open one keeps the process from exiting)."""
        if self._worker is not None:
            self._worker.close()

    async def adopt(self) -> None:
        """Move the worker onto the running loop (the server's), where it runs from now."""
        if self._worker is not None:
            await self._worker.adopt()

    async def aclose(self) -> None:
        if self._worker is not None:
            await self._worker.aclose()

    def folder(self, path: Path) -> MachineDefinition | None:
        """`NAME/`: its versions, and from `machine.json` its migrations and indexes:
        `{"migrations": [{"from": "v1", "to": "v2", "module": "v1-to-v2.js"}],
        "indexes": {"email": "/public/email"}}` (versions by file stem; an index is a
        JSON pointer into the context)."""
        manifest: dict[str, Any] = {}
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            try:
                manifest = json.loads(manifest_path.read_text())
                if not isinstance(manifest, dict):
                    raise ValueError("it is not a JSON object")
            except ValueError as error:
                log.error(
                    "cannot read %s: %s; the machine %s is not loaded",
                    manifest_path,
                    error,
                    path.name,
                )
                return None
        migrations = {
            str(entry.get("to")): entry
            for entry in manifest.get("migrations", [])
            if isinstance(entry, dict)
        }
        named = {(path / str(entry.get("module"))).resolve() for entry in migrations.values()}
        files = sorted(
            f for f in path.iterdir() if f.suffix in MODULE_SUFFIXES and f.resolve() not in named
        )
        versions = self.versions(path.name, files, migrations)
        if not versions:
            return None
        indexes = {
            str(name): _pointer(str(pointer))
            for name, pointer in (manifest.get("indexes") or {}).items()
        }
        return MachineDefinition(slug=path.name, versions=versions, indexes=indexes)

    def versions(
        self,
        machine: str,
        files: Sequence[Path],
        migrations: Mapping[str, Any],
        single: bool = False,
    ) -> list[MachineVersion]:
        """One version per file, labelled by file stem (`NAME.js` alone: "v1")."""
        from smb_tui.local.xstate_engine import load_migration, load_module

        versions: list[MachineVersion] = []
        for file in files:
            try:
                module = load_module(file, self.worker)
            except Exception as error:
                log.error("cannot load the machine module %s: %s", file, str(error).strip())
                continue
            migrate = None
            entry = migrations.get(file.stem)
            if entry is not None:
                source = file.parent / str(entry.get("module"))
                previous = versions[-1].label if versions else None
                try:
                    if entry.get("from") != previous:
                        raise ValueError(
                            f"it migrates from {entry.get('from')!r}, but the version before"
                            f" {file.stem!r} is {previous!r}"
                        )
                    migrate = load_migration(source, self.worker)
                except Exception as error:
                    log.error("cannot load the migration module %s: %s", source, str(error).strip())
            label = "v1" if single else file.stem
            versions.append(MachineVersion(label, module, migrate=migrate))
        return versions


def _pointer(pointer: str) -> Callable[[Mapping[str, JSON]], JSON]:
    """A JSON pointer (RFC 6901) into a context, as an index selector."""
    if pointer and not pointer.startswith("/"):
        raise ValueError(f"an index selector is a JSON pointer like /public/email, not {pointer!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]

    def select(context: Mapping[str, JSON]) -> JSON:
        value: JSON = context
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    return select


def _python_definition(path: Path) -> MachineDefinition:
    module_name = f"smb_tui_user_machines.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    definition = getattr(module, "machine", None)
    if not isinstance(definition, MachineDefinition):
        raise ValueError(f"{path} defines no `machine = MachineDefinition(...)`")
    return definition

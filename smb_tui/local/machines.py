"""Finding the machines in a folder: Python definition modules and XState modules.

A `*.py` file defines `machine = MachineDefinition(...)`; `NAME.js` / `NAME.mjs` is an XState
module (machine NAME, one version "v1"); a folder `NAME/` holds one XState module per
version, with an optional `machine.json` naming migration modules and index selectors.
XState modules are compiled in the machine worker processes (`engines.xstate_pool.WorkerPool`)
as they are found, so that a broken one is named before the server serves. A file that
does not load, Python or JavaScript, is skipped with a message (its name and its error
made safe for the terminal: both were written by somebody else), and the rest load.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smb_tui.core.text import safe
from smb_tui.local.definitions import JSON, MachineDefinition, MachineVersion
from smb_tui.local.engines.xstate import (
    XStateMigration,
    XStateModule,
    load_migration,
    load_module,
)
from smb_tui.local.engines.xstate_pool import WorkerPool

log = logging.getLogger(__name__)
MODULE_SUFFIXES = (".js", ".mjs")
MANIFEST = "machine.json"


def load_definitions(
    directory: Path, *, allow_fetch: bool = False, loader: ModuleLoader | None = None
) -> list[MachineDefinition]:
    """The machines in `directory`, sorted by name: every `*.py` that defines `machine`;
    every `NAME.js` / `NAME.mjs` (an XState module: machine NAME, one version "v1"); every
    folder `NAME/` of such modules (one version each, sorted by file name: the last is
    current), with an optional `machine.json` naming migration modules and index
    selectors. A module that does not load is logged, naming the file and the error,
    and the other machines still load. XState modules run in the loader's worker pool
    (`allow_fetch`: may their code reach the network)."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a folder of machine definitions")
    loader = loader or ModuleLoader(allow_fetch)
    found: list[MachineDefinition] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            try:
                found.append(_python_definition(path))
            except (Exception, SystemExit) as error:  # its own code: skip it, load the rest
                log.error(
                    "cannot load the machine definition %s: %s: %s; it is skipped",
                    safe(path),
                    type(error).__name__,
                    safe(str(error).strip()),
                )
        elif path.suffix in MODULE_SUFFIXES and path.is_file():
            versions = loader.versions(path.stem, [path], single=True)
            if versions:
                found.append(MachineDefinition(slug=path.stem, versions=versions))
        elif path.is_dir():
            definition = loader.folder(path)
            if definition is not None:
                found.append(definition)
    return found


class ModuleLoader:
    """Loads XState modules into a pool of worker processes, started when the first
    module is found (`workers`: how many; default from the cores)."""

    def __init__(self, allow_fetch: bool, workers: int | None = None) -> None:
        self.allow_fetch = allow_fetch
        self.workers = workers
        self._pool: WorkerPool | None = None

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.allow_fetch, self.workers)
        return self._pool

    @property
    def started(self) -> bool:
        """Was a pool made (some XState module was found)?"""
        return self._pool is not None

    def close(self) -> None:
        """Stop the worker processes (from any thread)."""
        if self._pool is not None:
            self._pool.close()

    async def start(self) -> None:
        """On the server's loop: the pool's workers attached and the rest started."""
        if self._pool is not None:
            await self._pool.start()

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def folder(self, path: Path) -> MachineDefinition | None:
        """`NAME/`: its versions, and from `machine.json` its migrations and indexes:
        `{"migrations": [{"from": "v1", "to": "v2", "module": "v1-to-v2.js"}],
        "indexes": {"email": "/public/email"}}` (versions by file stem, a migration between
        any two of them; an index is a JSON pointer into the context)."""
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
                    safe(manifest_path),
                    safe(error),
                    safe(path.name),
                )
                return None
        entries = [e for e in manifest.get("migrations", []) if isinstance(e, dict)]
        named = {(path / str(entry.get("module"))).resolve() for entry in entries}
        files = sorted(
            f for f in path.iterdir() if f.suffix in MODULE_SUFFIXES and f.resolve() not in named
        )
        versions = self.versions(path.name, files)
        if not versions:
            return None
        indexes = {
            str(name): _pointer(str(pointer))
            for name, pointer in (manifest.get("indexes") or {}).items()
        }
        definition = MachineDefinition(slug=path.name, versions=versions, indexes=indexes)
        migrations = self.migrations(definition, path, entries)
        return dataclasses.replace(definition, migrations=migrations)

    def migrations(
        self, definition: MachineDefinition, path: Path, entries: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[str, str], XStateMigration]:
        """`machine.json`'s migrations, between any two of its versions (by file stem),
        forward or back, as State Backed takes them."""
        labels = {version.label: version for version in definition.versions}
        migrations: dict[tuple[str, str], XStateMigration] = {}
        for entry in entries:
            source = path / str(entry.get("module"))
            start, end = labels.get(str(entry.get("from"))), labels.get(str(entry.get("to")))
            try:
                if start is None or end is None or start is end:
                    raise ValueError(
                        f"it migrates from {entry.get('from')!r} to {entry.get('to')!r}: name"
                        " two different versions of the machine (file stems)"
                    )
                assert isinstance(end.chart, XStateModule)
                migration = load_migration(source, self.pool, end.chart)
            except Exception as error:
                log.error(
                    "cannot load the migration module %s: %s",
                    safe(source),
                    safe(str(error).strip()),
                )
                continue
            edge = (definition.version_id(start), definition.version_id(end))
            migrations[edge] = migration
        return migrations

    def versions(
        self, machine: str, files: Sequence[Path], single: bool = False
    ) -> list[MachineVersion]:
        """One version per file, labelled by file stem (`NAME.js` alone: "v1")."""
        versions: list[MachineVersion] = []
        for file in files:
            try:
                module = load_module(file, self.pool)
            except Exception as error:
                log.error(
                    "cannot load the machine module %s: %s; it is skipped",
                    safe(file),
                    safe(str(error).strip()),
                )
                continue
            versions.append(MachineVersion("v1" if single else file.stem, module))
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

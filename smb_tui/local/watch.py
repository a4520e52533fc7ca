"""`smb-tui local --machines DIR --watch`: a changed XState module becomes a new version.

The folder is polled (every half second: no new dependency, and it works the same on
every file system, network mounts included). A changed `NAME.js` / `NAME.mjs`, or a
changed or new version file in a folder `NAME/`, is compiled in the machine workers; one
that does not load is reported, naming the file and the JavaScript error, and ignored
(the machine keeps its current version). One that loads becomes the machine's newest
version, and current. Its instances move to it as State Backed upgrades an instance, at
their next event: through the migration the folder's `machine.json` names for that
file, when there is one; otherwise keeping their state and context, only if their state
still exists in the new version; an instance whose state is gone stays at its version,
and its logs say why. A new `NAME.js` is a new machine. Python definitions are read at
start-up only (a change is reported, not loaded).

The versions made are kept in SQLite with their code (`restore`), so instances that
moved still run after a restart, with or without `--watch`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from smb_tui.core.text import safe
from smb_tui.local.definitions import MachineDefinition, MachineVersion
from smb_tui.local.engines.xstate import XStateMigration, XStateModule
from smb_tui.local.machines import MANIFEST, MODULE_SUFFIXES, ModuleLoader
from smb_tui.local.service import LocalService

log = logging.getLogger(__name__)
KEEP_STATE = "const upgradeState = (path) => path;\nexport { upgradeState };\n"
POLL_SECONDS = 0.5


class Watcher:
    """Watches `directory` for the service: see the module's docstring."""

    def __init__(
        self,
        directory: Path,
        service: LocalService,
        loader: ModuleLoader,
        interval: float = POLL_SECONDS,
    ) -> None:
        self.directory = directory
        self.service = service
        self.store = service.store
        self.loader = loader
        self.interval = interval
        # file -> (mtime, size) as last seen, and the digest of the code it was loaded as
        self._stat: dict[Path, tuple[int, int]] = {}
        self._digest: dict[Path, str] = {}

    # -- start-up ------------------------------------------------------------------

    def restore(self) -> list[str]:
        """Before serving (blocking): the versions --watch made before a restart, back
        in their machines' definitions; what no longer loads, named."""
        failed: list[str] = []
        for slug, definition in list(self.service.definitions.items()):
            rows = self.store.watched_versions(slug)
            if not rows or not all(isinstance(v.chart, XStateModule) for v in definition.versions):
                continue
            versions = list(definition.versions)
            for row in rows:
                try:
                    module = self.loader.pool.load(row["code"], "machine")
                    chart = XStateModule(
                        self.directory / row["file"],
                        self.loader.pool,
                        module.key,
                        self.loader.pool.exports[module.key],
                    )
                    migration = self.loader.pool.load(
                        row["migration"] or KEEP_STATE, "migration", module.key
                    )
                except ValueError as error:
                    failed.append(f"{slug} {row['label']}: {error}")
                    continue
                versions.append(
                    MachineVersion(
                        row["label"],
                        chart,
                        migrate=XStateMigration(chart.path, chart.pool, migration.key),
                        id=row["id"],
                        keeps_state=row["migration"] is None,
                    )
                )
                self._digest[self.directory / row["file"]] = _digest(row["code"])
            self.service.add_definition(dataclasses.replace(definition, versions=versions))
        for path in self._modules():
            try:
                now = _digest(path.read_text())
            except (OSError, UnicodeDecodeError):
                continue
            if self._digest.setdefault(path, now) == now:
                self._stat[path] = _stat(path)
            # else: changed while the server was down; the first scan makes its version
        return failed

    # -- watching ------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.scan()
            except Exception:  # a watcher that dies would leave the author guessing
                log.exception("--watch: scanning %s failed", safe(self.directory))

    async def scan(self) -> list[str]:
        """One look at the folder: the files that became versions or machines."""
        made: list[str] = []
        for path in self._modules():
            stat = _stat(path)
            if self._stat.get(path) == stat:
                continue
            self._stat[path] = stat
            if await self._changed(path):
                made.append(path.name)
        for path in sorted(self.directory.glob("*.py")):
            stat = _stat(path)
            if path in self._stat and self._stat[path] != stat:
                log.warning(
                    "--watch: %s changed; Python definitions are read at start-up only:"
                    " restart the server to load it",
                    safe(path.name),
                )
            self._stat[path] = stat
        return made

    def _modules(self) -> list[Path]:
        """Every XState module of the folder: NAME.js, NAME/*.js (not migrations)."""
        found = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(("_", ".")):
                continue
            if path.suffix in MODULE_SUFFIXES and path.is_file():
                found.append(path)
            elif path.is_dir():
                named = {
                    (path / str(entry.get("module"))).resolve()
                    for entry in _manifest(path).get("migrations", [])
                    if isinstance(entry, dict)
                }
                found.extend(
                    f
                    for f in sorted(path.iterdir())
                    if f.suffix in MODULE_SUFFIXES and f.is_file() and f.resolve() not in named
                )
        return found

    async def _changed(self, path: Path) -> bool:
        folder = path.parent != self.directory
        slug = path.parent.name if folder else path.stem
        try:
            code = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            log.error("--watch: cannot read %s: %s; ignored", safe(path), safe(error))
            return False
        digest = _digest(code)
        if self._digest.get(path) == digest:
            return False  # touched, not changed
        self._digest[path] = digest
        definition = self.service.definitions.get(slug)
        if definition is None and slug in self.service.versionless:
            return False
        if definition is not None and not all(
            isinstance(v.chart, XStateModule) for v in definition.versions
        ):
            return False  # a Python machine of the same name
        if definition is not None and definition.current_id is not None:
            log.error("--watch: machine %s is deployed over the API; %s ignored", slug, path)
            return False
        try:
            key = await self.loader.pool.add(code, "machine")
        except ValueError as error:
            current = definition.current.label if definition else "none"
            log.error(
                "--watch: %s does not load: %s; machine %s stays at version %s",
                safe(path.name),
                safe(str(error).strip()),
                safe(slug),
                safe(current),
            )
            return False
        chart = XStateModule(path, self.loader.pool, key, self.loader.pool.exports[key])
        if definition is None:
            version = MachineVersion("v1", chart)
            made = MachineDefinition(slug, [version])
            self.store.ensure_machine(slug, [(made.version_id(version), "v1")])
            self.service.add_definition(made)
            log.warning("--watch: new machine %s from %s", safe(slug), safe(path.name))
            return True
        migration_code = _named_migration(path) if folder else None
        try:
            migration = await self.loader.pool.add(migration_code or KEEP_STATE, "migration", key)
        except ValueError as error:
            log.error(
                "--watch: the migration to %s does not load: %s; ignored",
                safe(path.name),
                safe(str(error).strip()),
            )
            return False
        label = _label(definition, path.stem if folder else "v")
        version = MachineVersion(
            label,
            chart,
            migrate=XStateMigration(path, self.loader.pool, migration),
            id=_version_id(slug, label, digest),
            keeps_state=migration_code is None,
        )
        grown = dataclasses.replace(definition, versions=[*definition.versions, version])
        version_id = grown.version_id(version)
        movers = [
            at
            for at in self.store.instance_versions(slug)
            if at != version_id and grown.migration_path(at, version_id) is not None
        ]
        moving = self.store.add_watched_version(
            slug,
            version_id,
            label,
            str(path.relative_to(self.directory)),
            code,
            migration_code,
            movers,
        )
        self.service.add_definition(grown)
        how = (
            "through the migration machine.json names"
            if migration_code
            else "keeping their state where it still exists"
        )
        log.warning(
            "--watch: machine %s is at version %s (from %s); %d instances move to it at"
            " their next event, %s",
            safe(slug),
            safe(label),
            safe(path.name),
            moving,
            how,
        )
        return True


def _label(definition: MachineDefinition, stem: str) -> str:
    """A label no version of the machine has: NAME.js's next `vN`; a folder's file stem,
    or `stem.N` when that stem is taken."""
    labels = {v.label for v in definition.versions}
    if stem == "v":
        n = len(definition.versions) + 1
        while f"v{n}" in labels:
            n += 1
        return f"v{n}"
    if stem not in labels:
        return stem
    n = 2
    while f"{stem}.{n}" in labels:
        n += 1
    return f"{stem}.{n}"


def _named_migration(path: Path) -> str | None:
    """The migration module the folder's machine.json names for this version file."""
    for entry in _manifest(path.parent).get("migrations", []):
        if isinstance(entry, dict) and entry.get("to") == path.stem and entry.get("module"):
            try:
                return (path.parent / str(entry["module"])).read_text()
            except (OSError, UnicodeDecodeError):
                return None
    return None


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _version_id(slug: str, label: str, digest: str) -> str:
    made = hashlib.sha256(f"{slug}\0{label}\0{digest}".encode()).hexdigest()[:16]
    return f"mv_{made}"


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()

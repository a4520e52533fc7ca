"""Deploying machines, versions and migrations to the local server, as to State Backed.

The steps State Backed's client and smply take (`statebacked-api.md`, "Deploying"): a
provisional version (a signed id, an upload URL and fields), the bundle posted to that URL
as a form with no Authorization header, and the finalize `PUT`. The upload URL is this
server's own and single-use: its path holds a random token bound to the provisional
version, and a field carries a signature over it. At finalize the bundle is compiled in
the machine workers: one that does not load is refused (400, naming the JavaScript error)
and nothing is stored. What was deployed (code, versions, migrations, which version is
current) is kept in SQLite, so that a restarted server serves it (`restore`).

Why one module of ~480 lines: the deploy steps share one secret (the provisional
version's signature), one bundle check and one transaction that makes a version current;
split by step, each part would need the others' invariants.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smb_tui.api.wire import delete_confirmation
from smb_tui.local.auth import same_secret
from smb_tui.local.definitions import JSON, IndexSelector, MachineDefinition, MachineVersion
from smb_tui.local.engines.xstate import XStateMigration, XStateModule
from smb_tui.local.machines import ModuleLoader
from smb_tui.local.service import ApiError, LocalService

MAX_GZIPPED = 1024 * 1024  # State Backed's limits for a bundle
MAX_UNZIPPED = 10 * 1024 * 1024
UPLOAD_PATH = "/uploads/"  # where a bundle is posted, under the server's own URL
PENDING_SECONDS = 3600.0  # an upload not finalized within it is forgotten
MAX_PENDING = 256
SIGNATURE_FIELD = "x-smb-upload-signature"


@dataclass
class Pending:
    """A provisional version or migration: reserved, maybe uploaded, not yet final."""

    machine: str
    kind: str  # "version" or "migration"
    id: str
    token: str  # the upload URL's
    created: float
    from_id: str | None = None
    to_id: str | None = None
    code: str | None = None


class Deployments:
    """Machines, versions and migrations made over the API, in the service's definitions
    and the store."""

    def __init__(self, service: LocalService, loader: ModuleLoader) -> None:
        self.service = service
        self.store = service.store
        self.loader = loader
        self._secret = secrets.token_bytes(32)
        self._pending: OrderedDict[str, Pending] = OrderedDict()  # by id

    # -- machines ----------------------------------------------------------------------

    def create_machine(self, slug: str, indexes: Sequence[str]) -> None:
        if slug in self.service.definitions or not self.store.add_deployed_machine(slug, indexes):
            raise ApiError(409, f"there is a machine named {slug!r} already", "invalid-state")
        self.service.versionless[slug] = list(indexes)

    def delete_machine(self, slug: str, confirmation: str) -> None:
        deployed = {row["slug"] for row in self.store.deployed_machines()}
        if slug not in deployed:
            if slug in self.service.definitions:
                raise ApiError(
                    400,
                    f"machine {slug!r} comes from --machines or the demo, not from a deploy:"
                    " remove its file instead",
                    "invalid-parameter",
                )
            raise ApiError(404, f"there is no machine named {slug!r}")
        if not same_secret(confirmation, delete_confirmation(slug, slug)):
            raise ApiError(
                400,
                "the confirmation must be base64url(HMAC-SHA256(key=machine name,"
                " message=machine name)) without padding",
                "invalid-parameter",
                "hmacSha256OfMachineNameWithMachineNameKey",
            )
        if self.store.has_instances_of(slug):
            raise ApiError(
                409,
                f"machine {slug!r} still has instances: delete them first",
                "invalid-state",
            )
        self.store.delete_deployed_machine(slug)
        self.service.definitions.pop(slug, None)
        self.service.versionless.pop(slug, None)

    def _deployed(self, slug: str) -> None:
        """Refuse a machine that is not there, or that files define."""
        if slug in self.service.versionless:
            return
        if slug not in self.service.definitions:
            raise ApiError(404, f"there is no machine named {slug!r}")
        if not any(row["slug"] == slug for row in self.store.deployed_machines()):
            raise ApiError(
                400,
                f"machine {slug!r} comes from --machines or the demo: its versions are its"
                " files (see --watch)",
                "invalid-parameter",
            )

    # -- provisional, upload, finalize -------------------------------------------------

    def provisional(
        self,
        machine: str,
        kind: str,
        upload_base: str,
        from_id: str | None = None,
        to_id: str | None = None,
    ) -> dict[str, JSON]:
        """Reserve an id: the signed id, the upload URL and its fields."""
        self._deployed(machine)
        if kind == "migration":
            self._migration_path(machine, from_id, to_id)
        self._forget_old()
        prefix = "mv" if kind == "version" else "mm"
        pending = Pending(
            machine,
            kind,
            f"{prefix}_{secrets.token_hex(8)}",
            secrets.token_urlsafe(24),
            time.monotonic(),
            from_id,
            to_id,
        )
        self._pending[pending.id] = pending
        name = "machineVersionId" if kind == "version" else "machineVersionMigrationId"
        return {
            name: f"{pending.id}.{self._sign(pending, 'id')}",
            "codeUploadUrl": f"{upload_base.rstrip('/')}{UPLOAD_PATH}{pending.token}",
            "codeUploadFields": {
                "key": f"{machine}/{pending.id}.js",
                SIGNATURE_FIELD: self._sign(pending, "upload"),
            },
        }

    def upload(self, token: str, fields: Mapping[str, str], data: bytes) -> None:
        """The bundle, posted as a form to the upload URL (single-use)."""
        pending = next((p for p in self._pending.values() if same_secret(p.token, token)), None)
        if pending is None or pending.code is not None:
            raise ApiError(403, "this upload URL is unknown, expired or used already")
        if not same_secret(fields.get(SIGNATURE_FIELD, ""), self._sign(pending, "upload")):
            raise ApiError(
                403,
                f"the upload form must carry every codeUploadFields entry ({SIGNATURE_FIELD})",
            )
        pending.code = bundle_text(data, fields.get("content-encoding") == "gzip")

    async def finalize_version(
        self,
        machine: str,
        signed_id: str,
        client_info: str,
        make_current: bool,
        index_selectors: Mapping[str, str] | None,
    ) -> str:
        pending = self._uploaded(machine, signed_id, "version")
        indexes = self._index_names(machine)
        selectors = dict(index_selectors) if index_selectors is not None else None
        if selectors is None:
            selectors = self._current_selectors(machine)
        missing = [name for name in indexes if name not in (selectors or {})]
        if missing:
            raise ApiError(
                400,
                f"machine {machine!r} has the indexes {', '.join(missing)}: give indexSelectors"
                " for each (a JSONPath such as $.email)",
                "invalid-parameter",
                "indexSelectors",
            )
        compiled = {name: json_path(path) for name, path in (selectors or {}).items()}
        assert pending.code is not None
        module = await self._compile(pending.code, "machine")
        self.store.add_deployed_version(
            machine, pending.id, client_info, pending.code, selectors, make_current
        )
        del self._pending[pending.id]
        self._add_version(machine, pending.id, client_info, module, compiled)
        return pending.id

    async def finalize_migration(self, machine: str, signed_id: str) -> str:
        pending = self._uploaded(machine, signed_id, "migration")
        assert pending.code is not None and pending.to_id is not None
        definition = self.service.machine(machine)
        to = self._migration_path(machine, pending.from_id, pending.to_id)
        target = to.chart
        assert isinstance(target, XStateModule)
        key = await self._compile(pending.code, "migration", target.key)
        self.store.add_deployed_migration(
            machine, pending.id, str(pending.from_id), pending.to_id, pending.code
        )
        del self._pending[pending.id]
        migration = XStateMigration(target.path, target.pool, key)
        edge = (str(pending.from_id), pending.to_id)
        migrations = {**definition.migrations, edge: migration}
        self.service.add_definition(dataclasses.replace(definition, migrations=migrations))
        return pending.id

    # -- restoring what was deployed ---------------------------------------------------

    def restore(self) -> list[str]:
        """At start-up, before serving: every deployed machine back in the definitions,
        its code compiled (blocking); the names of versions that no longer load."""
        failed = []
        for row in self.store.deployed_machines():
            slug = row["slug"]
            indexes = json.loads(row["indexes"])
            versions: list[MachineVersion] = []
            migrations: dict[tuple[str, str], XStateMigration] = {}
            for code in self.store.deployed_code(slug):
                try:
                    if code["kind"] == "version":
                        module = self.loader.pool.load(code["code"], "machine")
                        selectors = json.loads(code["index_selectors"] or "null") or {}
                        versions.append(
                            MachineVersion(
                                code["label"] or code["id"],
                                _module(module.key, self.loader, code["id"]),
                                id=code["id"],
                                indexes={n: json_path(p) for n, p in selectors.items()},
                            )
                        )
                    else:
                        to = next(v for v in versions if v.id == code["to_version"])
                        assert isinstance(to.chart, XStateModule)
                        loaded = self.loader.pool.load(code["code"], "migration", to.chart.key)
                        migration = XStateMigration(to.chart.path, to.chart.pool, loaded.key)
                        migrations[(code["from_version"], code["to_version"])] = migration
                except (ValueError, StopIteration) as error:
                    failed.append(f"{slug} {code['id']}: {error}")
            if versions:
                self.service.add_definition(
                    MachineDefinition(
                        slug,
                        versions,
                        _current_indexes(versions, row["current_version"], indexes),
                        current_id=row["current_version"],
                        migrations=migrations,
                    )
                )
            else:
                self.service.versionless[slug] = indexes
        return failed

    # -- helpers -----------------------------------------------------------------------

    def _sign(self, pending: Pending, purpose: str) -> str:
        message = f"{purpose}\0{pending.kind}\0{pending.machine}\0{pending.id}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()

    def _forget_old(self) -> None:
        now = time.monotonic()
        while self._pending and (
            len(self._pending) >= MAX_PENDING
            or now - next(iter(self._pending.values())).created > PENDING_SECONDS
        ):
            self._pending.popitem(last=False)

    def _uploaded(self, machine: str, signed_id: str, kind: str) -> Pending:
        plain, _, signature = signed_id.partition(".")
        pending = self._pending.get(plain)
        if (
            pending is None
            or pending.kind != kind
            or pending.machine != machine
            or not same_secret(signature, self._sign(pending, "id"))
        ):
            raise ApiError(
                400,
                f"{signed_id!r} is no provisional {kind} of machine {machine!r} (unknown,"
                " expired, finalized already, or from a restarted server)",
                "invalid-parameter",
            )
        if pending.code is None:
            raise ApiError(
                400, "no code was uploaded for this provisional id: post it to the upload URL"
            )
        return pending

    async def _compile(self, code: str, kind: str, target: str | None = None) -> str:
        try:
            return await self.loader.pool.add(code, kind, target)
        except ValueError as error:
            raise ApiError(
                400,
                f"the {kind} module does not load: {error}; nothing was stored",
                "invalid-parameter",
                "code",
            ) from error

    def _index_names(self, machine: str) -> list[str]:
        if machine in self.service.versionless:
            return self.service.versionless[machine]
        return sorted(self.service.machine(machine).indexes)

    def _current_selectors(self, machine: str) -> dict[str, str] | None:
        current = self.store.current_version(machine)
        if current is None:
            return None
        for row in self.store.deployed_code(machine):
            if row["id"] == current.id:
                return json.loads(row["index_selectors"] or "null")
        return None

    def _migration_path(
        self, machine: str, from_id: str | None, to_id: str | None
    ) -> MachineVersion:
        """The version a migration leads to (from any other version, forward or back)."""
        definition = self.service.machine(machine)
        ids = [definition.version_id(v) for v in definition.versions]
        for name, value in (("fromMachineVersionId", from_id), ("toMachineVersionId", to_id)):
            if value not in ids:
                raise ApiError(
                    400,
                    f"machine {machine!r} has no version {value!r}",
                    "invalid-parameter",
                    name,
                )
        assert from_id is not None and to_id is not None
        if to_id == from_id:
            raise ApiError(
                400,
                "a migration leads from one version to another, not to itself",
                "invalid-parameter",
                "toMachineVersionId",
            )
        to = definition.versions[ids.index(to_id)]
        if not isinstance(to.chart, XStateModule):
            raise ApiError(400, "only deployed versions take deployed migrations")
        return to

    def _add_version(
        self,
        machine: str,
        version_id: str,
        client_info: str,
        key: str,
        selectors: Mapping[str, IndexSelector],
    ) -> None:
        version = MachineVersion(
            client_info or version_id,
            _module(key, self.loader, version_id),
            id=version_id,
            indexes=selectors,
        )
        current = self.store.current_version(machine)
        current_id = current.id if current else version_id
        if machine in self.service.versionless:
            indexes = self.service.versionless.pop(machine)
            versions = [version]
        else:
            definition = self.service.machine(machine)
            indexes = sorted(definition.indexes)
            versions = [*definition.versions, version]
        self.service.add_definition(
            MachineDefinition(
                machine,
                versions,
                _current_indexes(versions, current_id, indexes),
                current_id=current_id,
            )
        )


def _module(key: str, loader: ModuleLoader, version_id: str) -> XStateModule:
    pool = loader.pool
    return XStateModule(Path(f"{version_id}.js"), pool, key, pool.exports[key])


def _current_indexes(
    versions: Sequence[MachineVersion], current_id: str | None, names: Sequence[str]
) -> dict[str, IndexSelector]:
    """The machine's indexes, by the current version's selectors."""
    current = next((v for v in versions if v.id == current_id), versions[-1])
    selectors = current.indexes or {}
    return {name: selectors[name] for name in names if name in selectors}


def bundle_text(data: bytes, gzipped: bool) -> str:
    """The uploaded bundle as text, within State Backed's limits (a clear 400 past them)."""
    if gzipped:
        if len(data) > MAX_GZIPPED:
            raise ApiError(400, f"the gzipped bundle is {len(data):,} bytes; at most 1 MB")
        inflate = zlib.decompressobj(wbits=31)
        try:
            data = inflate.decompress(data, MAX_UNZIPPED + 1)
        except zlib.error as error:
            raise ApiError(400, f"the bundle is not gzip: {error}") from error
        if inflate.unconsumed_tail or len(data) > MAX_UNZIPPED:
            raise ApiError(400, "the bundle unzips to more than 10 MB; at most 10 MB")
    elif len(data) > MAX_UNZIPPED:
        raise ApiError(400, f"the bundle is {len(data):,} bytes; at most 10 MB")
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise ApiError(400, f"the bundle is not UTF-8 text: {error}") from error


# `$.a.b`, `$['a']`, `$["a"][0]`, `$.tags[*]`, `$.a.*`: the JSONPath State Backed's index
# selectors use.
_STEP = re.compile(r"\.([A-Za-z_$][\w$]*)|\[(\d+)\]|\[\s*(['\"])(.*?)\3\s*\]|(\[\*\]|\.\*)")
EVERY = None  # the step `[*]`: every element


def json_path(path: str) -> IndexSelector:
    """A JSONPath from the root (`$`) through names, array positions and `[*]`, as a
    selector. Where it finds an array, or passes a `[*]`, it selects a list: the
    instance gets one index entry per element. Filters and recursion are refused by
    name."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ApiError(
            400,
            f"an index selector is a JSONPath such as $.email, not {path!r}",
            "invalid-parameter",
            "indexSelectors",
        )
    steps: list[str | int | None] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ApiError(
                400,
                f"the local server reads JSONPath names, positions and [*] ($.a.b,"
                f" $['a'][0], $.tags[*]), not {path[position:]!r} in {path!r}",
                "invalid-parameter",
                "indexSelectors",
            )
        name, index, _, quoted, every = match.groups()
        if every is not None:
            steps.append(EVERY)
        else:
            steps.append(int(index) if index is not None else (name or quoted))
        position = match.end()
    return _selector(tuple(steps))


def _selector(steps: tuple[str | int | None, ...]) -> Callable[[Mapping[str, JSON]], JSON]:
    fans_out = EVERY in steps

    def select(context: Mapping[str, JSON]) -> Any:
        values: list[Any] = [context]
        for step in steps:
            found: list[Any] = []
            for value in values:
                if step is EVERY:
                    if isinstance(value, list):
                        found.extend(value)
                    elif isinstance(value, dict):
                        found.extend(value.values())
                elif _has(value, step):
                    found.append(value[step])
            values = found
        if fans_out:
            return values
        return values[0] if values else None

    return select


def _has(value: Any, step: str | int) -> bool:
    if isinstance(step, int):
        return isinstance(value, list) and step < len(value)
    return isinstance(value, dict) and step in value

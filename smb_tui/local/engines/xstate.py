"""The XState engine: State Backed machine modules, run in worker processes on V8.

A module is what `smply machine-versions create` uploads: an ES module bundled by esbuild
(xstate inside) exporting `default` (a machine made with `createMachine`) and maybe
`allowRead` and `allowWrite`; a migration module exports `upgradeState` and/or
`upgradeContext`. V8 runs it as a script, not as a module (measured: a script cannot hold
`export`), so the bundle becomes a function whose body is the module and whose value is its
exports (`wrap_module`); the function is called afresh for every run.

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

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smb_tui.local.definitions import JSON, AuthRequest, IndexSelector, MachineVersion, Snapshot
from smb_tui.local.engines.seam import (
    Engine,
    LogLine,
    MachineError,
    Outcome,
    Refused,
    StateView,
    Step,
    Timer,
    select_indexes,
)
from smb_tui.local.engines.xstate_worker import (
    CPU_SECONDS,
    LOAD_SECONDS,
    MEMORY_BYTES,
    SETTLE_ERROR,
)

SLACK_SECONDS = 0.5  # the pipe and the worker's own work, on top of a deadline
WORKER_MEMORY_BYTES = 1024 * 1024 * 1024  # a worker's resident memory, all its isolates
START_SECONDS = 30.0  # a new worker: Python, V8, every module

# `import x, {a as b} from "npm:xstate";`, `import * as x from ...`, `import "...";`, at
# the start of a statement (esbuild puts its keep-names helper before them).
IMPORT = re.compile(
    r"(?:^|(?<=[;}\n]))\s*import\s*"
    r"(?:(?:(?P<default>[\w$]+)\s*,?\s*)?(?:\*\s*as\s+(?P<star>[\w$]+)|\{(?P<names>[^}]*)\})?"
    r"\s*from\s*)?(?P<quote>[\"'])(?P<specifier>[^\"']*)(?P=quote)\s*;?"
)
XSTATE_SPECIFIER = re.compile(r"(?:npm:)?xstate(?:@4(?:\.[\w.-]*)?)?")
XSTATE_FILE = "xstate-4.38.3.js"  # what `npm:xstate` is: see the file's header
EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?\s*(?:/\*[\s\S]*?\*/\s*)*$")
_keys = itertools.count(1)
_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
log = logging.getLogger(__name__)


def default_workers() -> int:
    """Workers in a pool when not told: one a core, at least 2 (so that a runaway event
    never holds up the others), at most 4."""
    return min(4, max(2, os.cpu_count() or 2))


def wrap_module(source: str) -> str:
    """An esbuild ES module as a function expression of the run's console, timers and
    fetch, returning the module's exports. Its `import`s of `npm:xstate` (bundles built
    with `--external:npm:xstate`, as State Backed's docs build them) get the xstate this
    package holds, evaluated afresh with the module: as a bundle with xstate inside."""
    match = EXPORTS.search(source)
    if match is None:
        raise ValueError("the module exports nothing: it needs `export default` a machine")
    names = []
    for part in match.group(1).split(","):
        local, _, exported = part.strip().partition(" as ")
        if local:
            names.append(f"{json.dumps(exported.strip() or local)}: {local}")
    imports, body = _imports(source[: match.start()])
    return (
        "(function (console, setTimeout, clearTimeout, setInterval, clearInterval, fetch) {\n"
        f"{imports}{body}\n;return {{{', '.join(names)}}};\n}})"
    )


def _imports(source: str) -> tuple[str, str]:
    """The module's `import` statements as bindings of the provided xstate (imports are
    hoisted: the bindings come first), and the module without them. Any other import is
    refused by name: the local server, like State Backed, provides only `npm:xstate`."""
    bindings: list[str] = []
    parts: list[str] = []
    position = 0
    for match in IMPORT.finditer(source):
        specifier = match["specifier"]
        if XSTATE_SPECIFIER.fullmatch(specifier) is None:
            raise ValueError(
                f"it imports {specifier!r}; the runtime provides only npm:xstate"
                " (bundle everything else into the module)"
            )
        for name in (match["default"], match["star"]):
            if name:
                bindings.append(f"const {name} = __xstate;")
        if match["names"]:
            pairs = []
            for part in match["names"].split(","):
                imported, _, local = part.strip().partition(" as ")
                if imported:
                    pairs.append(f"{imported.strip()}: {local.strip() or imported.strip()}")
            bindings.append(f"const {{{', '.join(pairs)}}} = __xstate;")
        parts.append(source[position : match.start()])
        position = match.end()
    if position == 0:
        return "", source
    parts.append(source[position:])
    imports = f"const __xstate = {_xstate_factory()}();\n{''.join(bindings)}\n"
    return imports, "".join(parts)


_XSTATE: list[str] = []


def _xstate_factory() -> str:
    """xstate's UMD build as a function returning its exports (read once)."""
    if not _XSTATE:
        umd = (Path(__file__).parent / "js" / XSTATE_FILE).read_text()
        _XSTATE.append(
            "(function () { var module = { exports: {} }, exports = module.exports,"
            f" define = undefined;\n{umd}\n;return module.exports; }})"
        )
    return _XSTATE[0]


class LimitReached(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class WorkerLost(Exception):
    """The worker died (or was killed) with this call in flight."""


def _cpu_limit() -> LimitReached:
    return LimitReached(
        f"the machine's code ran past its {CPU_SECONDS:g} s CPU limit for one event",
        "machine-cpu-limit",
    )


def _memory_limit() -> LimitReached:
    return LimitReached(
        f"the machine's code went past its {MEMORY_BYTES // 2**20} MB memory limit",
        "machine-memory-limit",
    )


def _rss(pid: int) -> int:
    """A process's resident memory in bytes (0 where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class WorkerProcess:
    """One worker process and the pipe to it: blocking calls while the server loads its
    machines, then (`attach`) calls awaited on the server's loop."""

    def __init__(self, allow_fetch: bool) -> None:
        flags = ["--allow-fetch"] if allow_fetch else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smb_tui.local.engines.xstate_worker", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's Ctrl-C is the server's to handle
        )
        self._ids = itertools.count(1)
        self._buffer = b""
        self._pending: dict[int, tuple[asyncio.Future[Any], Callable[[], None] | None]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self.dead = False
        self.why: LimitReached | None = None  # what killed it, when this side did
        self.ready = False  # every module loaded

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def busy(self) -> int:
        return len(self._pending)

    # --- before the server's loop runs
    def ask(self, message: dict[str, Any], timeout: float) -> Any:
        """Send `message` and wait for its answer, blocking."""
        assert self._writer is None and self.process.stdin is not None
        ident = next(self._ids)
        try:
            self.process.stdin.write(json.dumps({**message, "id": ident}).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerLost("the worker is gone") from error
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if newline:
                self._buffer = rest
                answer = json.loads(line)
                if answer.get("id") == ident and "settling" not in answer:
                    return _result(answer)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.dead = True
                    raise WorkerLost("the worker is gone")
                self._buffer += chunk

    # --- on the server's loop
    async def attach(self, on_death: Callable[[WorkerProcess], None]) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader),
            self.process.stdout,  # type: ignore[arg-type]
        )
        if self._buffer:
            reader.feed_data(self._buffer)
            self._buffer = b""
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
            self.process.stdin,  # type: ignore[arg-type]
        )
        self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self._reading = asyncio.create_task(self._read(reader, on_death))

    async def _read(self, reader: asyncio.StreamReader, on_death: Callable[..., None]) -> None:
        try:
            while line := await reader.readline():
                answer = json.loads(line)
                waiting = self._pending.get(answer.get("id"))
                if waiting is None:
                    continue
                future, settling = waiting
                if "settling" in answer:
                    if settling is not None:
                        settling()
                elif not future.done():
                    try:
                        future.set_result(_result(answer))
                    except Exception as error:
                        future.set_exception(error)
        except (ValueError, ConnectionError):
            pass  # a worker that says nonsense is as good as dead
        finally:
            self.dead = True
            self.kill()
            with contextlib.suppress(Exception):  # reaped first: its exit says how it died
                await asyncio.to_thread(self.process.wait, 5)
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(self.why or WorkerLost(self._death()))
            self._pending.clear()
            on_death(self)

    def _death(self) -> str:
        code = self.process.poll()
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"the machine's worker process died ({signal.Signals(-code).name})"
        return f"the machine's worker process died (exit status {code})"

    async def call(self, message: dict[str, Any], seconds: float, settle: float = 0.0) -> Any:
        """Send `message`; its answer within `seconds` (`settle` more once the worker says
        the run is settling). Past the deadline, or past the memory cap, the worker is
        killed and `LimitReached` raised."""
        if self.dead or self._writer is None:
            raise WorkerLost("the machine's worker process is gone")
        ident = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        deadline = [loop.time() + seconds]

        def settling() -> None:
            deadline[0] += settle

        self._pending[ident] = (future, settling)
        try:
            self._writer.write(json.dumps({**message, "id": ident}).encode() + b"\n")
            await self._writer.drain()
            while not future.done():
                remaining = deadline[0] - loop.time()
                if remaining <= 0:
                    self.why = _cpu_limit()
                    if _rss(self.pid) > WORKER_MEMORY_BYTES:
                        self.why = _memory_limit()
                    self.kill()
                    raise self.why
                await asyncio.wait({future}, timeout=min(remaining, 0.25))
                if not future.done() and _rss(self.pid) > WORKER_MEMORY_BYTES:
                    self.why = _memory_limit()
                    self.kill()
                    raise self.why
            return future.result()
        except (ConnectionError, RuntimeError) as error:
            raise WorkerLost(self._death()) from error
        finally:
            self._pending.pop(ident, None)

    def kill(self) -> None:
        self.dead = True
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()

    async def aclose(self) -> None:
        self.kill()
        if self._reading is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._reading
        else:
            await asyncio.to_thread(self.process.wait, 5)
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(Exception):
                pipe.close()  # type: ignore[union-attr]


def _result(answer: dict[str, Any]) -> Any:
    if "ok" in answer:
        return answer["ok"]
    code = answer.get("code")
    if code == "machine-memory-limit":
        raise _memory_limit()
    if code == "machine-cpu-limit":
        raise _cpu_limit()
    if code == "invalid":
        raise ValueError(answer.get("error"))
    raise MachineCodeFailed(str(answer.get("error")), str(answer.get("line") or ""))


class MachineCodeFailed(Exception):
    """Machine code threw where the engine could not turn it into a failed run."""

    def __init__(self, trace: str, line: str) -> None:
        super().__init__(trace)
        self.line = line or trace.splitlines()[0]


@dataclass(frozen=True)
class LoadedModule:
    key: str
    kind: str  # "machine" or "migration"
    source: str  # the factory expression
    target: str  # the machine version's key whose context holds it


class WorkerPool:
    """Worker processes that all hold every module loaded; see the module's docstring."""

    def __init__(self, allow_fetch: bool = False, size: int | None = None) -> None:
        self.allow_fetch = allow_fetch
        self.size = size or default_workers()
        self.modules: list[LoadedModule] = []
        self.exports: dict[str, tuple[str, ...]] = {}  # what each machine module exports
        self.workers: list[WorkerProcess] = []
        self.replaced = 0  # workers started after one died
        self._changed: asyncio.Event | None = None
        self._starting: set[asyncio.Task[None]] = set()
        self.closed = False
        _pools.add(self)

    def load(self, source: str, kind: str = "machine", target: str | None = None) -> LoadedModule:
        """Compile a module in the first worker (started on the first call), blocking:
        the server loads its machines before it serves. Raises ValueError naming the
        JavaScript error when the module does not load."""
        key = f"m{next(_keys)}"
        module = LoadedModule(key, kind, wrap_module(source), target or key)
        if not self.workers or self.workers[0].dead:
            self.workers = [WorkerProcess(self.allow_fetch)]
        try:
            exports = self.workers[0].ask(_load(module), LOAD_SECONDS + 5)
        except TimeoutError as error:
            self.workers = []  # killed; the next load starts another
            raise ValueError(f"it ran for more than {LOAD_SECONDS:g} s when loaded") from error
        except WorkerLost as error:
            self.workers = []
            raise ValueError("the worker process died loading it") from error
        self.modules.append(module)
        self.exports[module.key] = tuple(exports)
        return module

    async def add(self, source: str, kind: str = "machine", target: str | None = None) -> str:
        """While serving: compile a module in one worker (ValueError naming the JavaScript
        error when it does not load), then into every other ready worker; workers started
        later load it with the rest. Its key."""
        key = f"m{next(_keys)}"
        module = LoadedModule(key, kind, wrap_module(source), target or key)
        if self._changed is None:
            await self.start()
        first = await self.pick()
        try:
            exports = await first.call(_load(module), LOAD_SECONDS + 5)
        except LimitReached as error:
            raise ValueError(f"it ran past a limit when loaded: {error}") from error
        except WorkerLost as error:
            raise ValueError("the worker process died loading it") from error
        self.modules.append(module)
        self.exports[key] = tuple(exports)
        others = [w for w in self.workers if w is not first and w.ready and not w.dead]
        results = await asyncio.gather(
            *(w.call(_load(module), LOAD_SECONDS + 5) for w in others), return_exceptions=True
        )
        for worker, result in zip(others, results, strict=True):
            if isinstance(result, BaseException):  # it loaded in the first: start afresh
                worker.kill()  # its reader sees it die and a fresh worker replaces it
        return key

    async def start(self) -> None:
        """On the server's loop: the first worker attached, the others started; all ready
        before the server serves, so that the first runaway already has a worker beside it
        (a runaway also stalls the other calls in its own worker: mini-racer resolves a
        host call's promise with a blocking call into the busy isolate)."""
        self._changed = asyncio.Event()
        for worker in self.workers:
            await worker.attach(self._died)
            worker.ready = True
        while len(self.workers) + len(self._starting) < self.size:
            self._spawn()
        if self._starting:
            await asyncio.wait(set(self._starting), timeout=START_SECONDS)

    def _spawn(self) -> None:
        task = asyncio.create_task(self._start_worker())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_worker(self) -> None:
        worker = WorkerProcess(self.allow_fetch)
        self.workers.append(worker)
        try:
            await worker.attach(self._died)
            for module in self.modules:
                await worker.call(_load(module), START_SECONDS)
        except Exception as error:
            log.error("a machine worker process could not start: %s", error)
            worker.kill()
            return
        worker.ready = True
        if self._changed is not None:
            self._changed.set()

    def _died(self, worker: WorkerProcess) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        if not self.closed:
            self.replaced += 1
            self._spawn()

    async def pick(self) -> WorkerProcess:
        """The ready worker with the fewest calls in flight (waiting for one, if all
        are being replaced)."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            ready = [w for w in self.workers if w.ready and not w.dead]
            if ready:
                return min(ready, key=lambda w: w.busy)  # an idle one, where there is one
            if self.closed or time.monotonic() > deadline or self._changed is None:
                raise WorkerLost("no machine worker process is running")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1)

    async def call(self, message: dict[str, Any], seconds: float, settle: float = 0.0) -> Any:
        worker = await self.pick()
        return await worker.call(message, seconds, settle)

    async def aclose(self) -> None:
        self.closed = True
        for task in list(self._starting):
            task.cancel()
        for worker in list(self.workers):
            await worker.aclose()
        self.workers = []

    def close(self) -> None:
        """Kill the workers, from any thread (at exit, or a pool never started)."""
        self.closed = True
        for worker in self.workers:
            worker.kill()
            with contextlib.suppress(Exception):
                worker.process.wait(5)
        self.workers = []


def _load(module: LoadedModule) -> dict[str, Any]:
    return {
        "op": "load",
        "key": module.key,
        "kind": module.kind,
        "source": module.source,
        "target": module.target,
    }


@atexit.register
def _close_pools() -> None:
    for pool in list(_pools):
        pool.close()


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
            raise Refused(answer["refused"] or None)
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
        return outcome

    async def start(
        self,
        version: MachineVersion,
        context: dict[str, JSON],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
    ) -> Outcome:
        return await self._run(version, instance, None, context, [], settle_timeout, check)

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
    ) -> Outcome:
        return await self._run(
            version, instance, snapshot.state, snapshot.context, list(events), settle_timeout, check
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
    ) -> Outcome:
        return await self._for(version).start(
            version, context, settle_timeout, machine, check, instance
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
    ) -> Outcome:
        engine = self._for(version)
        return await engine.apply(
            version, snapshot, events, settle_timeout, machine, check, instance
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


__all__ = [
    "MixedEngine",
    "WorkerPool",
    "XStateEngine",
    "XStateMigration",
    "XStateModule",
    "load_migration",
    "load_module",
    "wrap_module",
]

"""Running State Backed machine modules: XState v4 bundles on V8 (mini-racer).

A module is what `smply machine-versions create` uploads: an ES module bundled by esbuild
(xstate inside) exporting `default` (a machine made with `createMachine`) and maybe
`allowRead` and `allowWrite`; a migration module exports `upgradeState` and/or
`upgradeContext`. V8 runs it as a script, not as a module (measured: a script cannot
hold `export`), so the bundle's closing `export{...}` becomes the value a function
returns, in a scope of its own.

One `Worker` holds one V8 isolate for every version loaded, each compiled once. It
loads the modules at start-up on a thread of its own; the server then adopts it onto
its own loop (`adopt`), which from then on drives it: calls go straight to V8 and
back, and the machine code's `setTimeout`, `fetch` and `crypto.subtle.digest` are
asyncio work on the server's loop. `xstate/engine.js` applies events with XState's pure
`machine.transition` and performs what XState's interpreter would (custom actions,
sends, cancels, invoked promises and callbacks); `xstate/web.js` is the web APIs. A
delayed send (XState's `after`) is a timer the server fires durably.

Limits per event: each call into machine code may run 1 s (past it the worker is
restarted: V8 cannot stop a runaway promise callback otherwise) and may grow the heap
by 128 MB; past either, the event is refused and nothing is stored.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import gc
import hashlib
import itertools
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from smb_tui.local.definitions import JSON, AuthRequest, IndexSelector, MachineVersion, Snapshot
from smb_tui.local.runtime import (
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

CPU_SECONDS = 1.0  # per call into machine code
MEMORY_BYTES = 128 * 1024 * 1024  # heap growth per event
LOAD_SECONDS = 10.0
ENTROPY_BYTES = 4096  # crypto.getRandomValues' pool, topped up before each call
FETCH_MAX_BYTES = 10 * 1024 * 1024
SETTLE_ERROR = "SettleTimeout"  # data.name of the error event a stopped service leaves

_HERE = Path(__file__).parent / "xstate"
EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?\s*(?:/\*[\s\S]*?\*/\s*)*$")
_keys = itertools.count(1)
_workers: weakref.WeakSet[Worker] = weakref.WeakSet()
T = TypeVar("T")


def wrap_module(source: str) -> str:
    """An esbuild ES module as a script: its exports returned from a function scope."""
    match = EXPORTS.search(source)
    if match is None:
        raise ValueError("the module exports nothing: it needs `export default` a machine")
    names = []
    for part in match.group(1).split(","):
        local, _, exported = part.strip().partition(" as ")
        if local:
            names.append(f"{json.dumps(exported.strip() or local)}: {local}")
    body = source[: match.start()]
    return f"globalThis.__module = (function () {{\n{body}\n;return {{{', '.join(names)}}};\n}})();"


class LimitReached(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Worker:
    """One V8 isolate for every module loaded, and the loop that drives it: its own
    thread's until a server adopts it onto the server's (`adopt`)."""

    def __init__(self, allow_fetch: bool = False) -> None:
        from py_mini_racer import MiniRacer

        self.allow_fetch = allow_fetch
        self.loop = asyncio.new_event_loop()
        self.thread: threading.Thread | None = threading.Thread(
            target=self.loop.run_forever, name="smb-v8", daemon=True
        )
        self.thread.start()
        self.racer: MiniRacer | None = None
        self._maker: contextlib.AbstractContextManager[MiniRacer] | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._modules: list[tuple[str, str, str]] = []  # key, kind, wrapped source
        self._wanted = ENTROPY_BYTES
        self.restarts = 0
        self.heap_bytes = 0
        self._timers: dict[int, asyncio.Future[None]] = {}  # the machine code's setTimeouts
        self.closed = False
        self._lock = asyncio.Lock()
        self.wait(self._open())
        _workers.add(self)

    # --- running things on the worker's loop
    def wait(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `work` on the worker's loop from another thread, waiting for it."""
        if _running_loop() is self.loop:
            work.close()
            raise RuntimeError("Worker.wait on the worker's own loop would wait for ever")
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def submit(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the worker's loop, from it or from another loop, awaiting it."""
        if asyncio.get_running_loop() is self.loop:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    async def adopt(self) -> None:
        """Move the isolate onto the running loop (the server's), where it stays: calls
        then go straight to V8 and back, without two hops through the worker's thread,
        and the machine code's `setTimeout` runs on the server's loop. The modules
        loaded so far are compiled again there (a few ms each)."""
        loop = asyncio.get_running_loop()
        if loop is self.loop:
            return
        thread = self.thread
        await self.submit(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if thread is not None:
            await asyncio.to_thread(thread.join, 10)
        self.loop, self.thread = loop, None
        self._lock = asyncio.Lock()
        await self._open()

    async def aclose(self) -> None:
        """`close`, from the loop the worker was adopted by."""
        if self.closed:
            return
        if self.thread is not None:
            await asyncio.to_thread(self.close)
            return
        self.closed = True
        await self.submit(self._close())

    async def _open(self) -> None:
        from py_mini_racer import mini_racer

        self._maker = mini_racer(self.loop)
        racer = self.racer = self._maker.__enter__()
        self._stack = contextlib.AsyncExitStack()
        self._timers = {}
        wrap = racer.wrap_py_function
        digest = await self._stack.enter_async_context(wrap(_digest))
        fetch = await self._stack.enter_async_context(wrap(self._fetch))
        sleep = await self._stack.enter_async_context(wrap(self._sleep))
        wake = await self._stack.enter_async_context(wrap(self._wake))
        install = racer.eval(
            "(digest, fetch, sleep, wake, allowed, settle) => { globalThis.__host ="
            " {digest, fetch, sleep, wake, fetchAllowed: allowed, settleError: settle};"
            " return 0; }"
        )
        install(  # type: ignore[operator,misc]
            digest, fetch, sleep, wake, self.allow_fetch, SETTLE_ERROR
        )
        racer.eval((_HERE / "engine.js").read_text())
        racer.eval((_HERE / "web.js").read_text())
        self._wanted = ENTROPY_BYTES
        for key, kind, source in self._modules:
            await self._register(key, kind, source)
        self._limit_memory()

    def _limit_memory(self) -> None:
        """The heap may grow 128 MB past what the loaded modules hold. (Measured when the
        isolate is idle: heap_stats blocks the loop while a script runs.)"""
        assert self.racer is not None
        self.heap_bytes = int(self.racer.heap_stats()["used_heap_size"])
        self.racer.set_hard_memory_limit(self.heap_bytes + MEMORY_BYTES)

    async def _close(self) -> None:
        gc.collect()  # handles into the isolate go before it does
        if self._stack is not None:
            with contextlib.suppress(Exception):
                await self._stack.aclose()
        if self._maker is not None:
            self._maker.__exit__(None, None, None)  # also stops a runaway script
        self._maker = self._stack = self.racer = None

    async def _restart(self) -> None:
        self.restarts += 1
        await self._close()
        await self._open()

    def close(self) -> None:
        """Free the isolate and stop the thread (an open isolate keeps the process alive).
        A worker adopted by a loop is closed with `aclose` on that loop."""
        if self.closed or (self.thread is None and not self.loop.is_running()):
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.wait(self._close(), timeout=10)
        if self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    # --- loading
    def load(self, source: str, kind: str = "machine") -> tuple[str, list[str]]:
        """Compile a module once; its key and what it exports. Raises ValueError with the
        JavaScript error when it does not load."""
        key = f"m{next(_keys)}"
        wrapped = wrap_module(source)
        exports = self.wait(self._register(key, kind, wrapped))
        self._modules.append((key, kind, wrapped))
        self.wait(self._limit_memory_soon())
        return key, exports

    async def _limit_memory_soon(self) -> None:
        self._limit_memory()

    async def _register(self, key: str, kind: str, wrapped: str) -> list[str]:
        from py_mini_racer import JSEvalException

        assert self.racer is not None
        try:
            await asyncio.wait_for(self.racer.eval_cancelable(wrapped), LOAD_SECONDS)
            names = await self.racer.eval_cancelable(
                f"__smb.register({json.dumps(key)}, {json.dumps(kind)})"
            )
        except TimeoutError as error:
            raise ValueError(f"it ran for more than {LOAD_SECONDS:g} s when loaded") from error
        except JSEvalException as error:
            raise ValueError(_first_line(error)) from error
        return str(names).split(",") if names else []

    # --- calls into machine code (on the worker's loop)
    async def call(self, function: str, *args: str | int | None) -> Any:
        """`__smb.<function>(entropy, *args)` within the CPU limit; its answer's value."""
        from py_mini_racer import JSOOMException, JSTimeoutException

        # One call in the isolate at a time, so that its time limit counts its own time,
        # not that of the calls queued before it.
        async with self._lock:
            assert self.racer is not None
            entropy = os.urandom(self._wanted).hex() if self._wanted else ""
            # As source, not through mini-racer's function calls: those first run steps
            # that block the loop while a runaway promise callback holds the isolate.
            code = f"__smb.{function}({', '.join(json.dumps(a) for a in (entropy, *args))})"
            try:
                async with asyncio.timeout(CPU_SECONDS):  # cancels the V8 task on time-out
                    raw = await self.racer.eval_cancelable(code)
            except (TimeoutError, JSTimeoutException) as error:
                await self._restart()
                raise _cpu_limit() from error
            except JSOOMException as error:
                self.racer.low_memory_notification()
                raise LimitReached(
                    f"the machine's code went past its {MEMORY_BYTES // 2**20} MB memory limit",
                    "machine-memory-limit",
                ) from error
        answer = json.loads(str(raw))
        self._wanted = min(int(answer["wanted"]), ENTROPY_BYTES)
        return answer["value"]

    async def stray_logs(self) -> list[tuple[str, str]]:
        assert self.racer is not None
        with contextlib.suppress(Exception):
            raw = await asyncio.wait_for(self.racer.eval_cancelable("__smb.logs()"), CPU_SECONDS)
            return [(stream, text) for stream, text in json.loads(str(raw))]
        return []

    async def run(
        self,
        key: str,
        state: JSON | None,
        context: JSON,
        events: JSON,
        settle_timeout: float,
        check: JSON = None,
    ) -> dict[str, Any]:
        """Apply `events` (or start, when `state` is None) and wait until the run settles:
        no invoked service running, or `settle_timeout` passed (those running stop).
        `check`: allowWrite's arguments, asked first ({"refused": ...} when it says no)."""
        state_json = None if state is None else json.dumps(state)
        check_json = None if check is None else json.dumps(check)
        summary = await self.call(
            "begin", key, state_json, json.dumps(context), json.dumps(events), check_json
        )
        if "refused" in summary:
            refused: dict[str, Any] = summary
            return refused
        if "answer" in summary:
            done: dict[str, Any] = summary["answer"]
            return done
        run_id = summary["id"]
        if summary["running"]:
            assert self.racer is not None
            racer = self.racer
            async with self._lock:
                try:
                    settled = await asyncio.wait_for(
                        racer.eval_cancelable(f"__smb.settled({int(run_id)})"), CPU_SECONDS
                    )
                except TimeoutError as error:  # a promise callback that does not return
                    await self._restart()
                    raise _cpu_limit() from error
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_awaited(settled), settle_timeout)
            if racer is not self.racer:
                raise LimitReached(
                    "the machine's worker was restarted while this event settled",
                    "machine-error",
                )
        answer: dict[str, Any] = await self.call("finish", run_id)
        return answer

    @property
    def pending_timers(self) -> int:
        """The machine code's setTimeouts not yet due nor cleared."""
        return len(self._timers)

    async def _sleep(self, timer: Any, milliseconds: Any) -> bool:
        """setTimeout's wait, on the worker's loop: True when due, False when cleared."""
        cleared = self._timers[int(timer)] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(cleared, float(milliseconds) / 1000)
            return False
        except TimeoutError:
            return True
        finally:
            if self._timers.get(int(timer)) is cleared:
                del self._timers[int(timer)]

    async def _wake(self, timer: Any) -> None:
        cleared = self._timers.pop(int(timer), None)
        if cleared is not None and not cleared.done():
            cleared.set_result(None)

    async def _fetch(self, url: Any, method: Any, headers: Any, body: Any) -> str:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
                response = await client.request(
                    str(method),
                    str(url),
                    headers=[tuple(pair) for pair in json.loads(str(headers))],
                    content=None if body is None else str(body).encode(),
                )
            if len(response.content) > FETCH_MAX_BYTES:
                return json.dumps({"error": f"the answer is over {FETCH_MAX_BYTES} bytes"})
            return json.dumps(
                {
                    "status": response.status_code,
                    "statusText": response.reason_phrase,
                    "headers": list(response.headers.multi_items()),
                    "body": base64.b64encode(response.content).decode(),
                }
            )
        except Exception as error:
            return json.dumps({"error": f"{type(error).__name__}: {error}"})


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _cpu_limit() -> LimitReached:
    return LimitReached(
        f"the machine's code ran past its {CPU_SECONDS:g} s CPU limit for one event",
        "machine-cpu-limit",
    )


async def _awaited(promise: Any) -> Any:
    return await promise


async def _digest(name: Any, data: Any) -> str:
    return hashlib.new(str(name).replace("-", "").lower(), bytes.fromhex(str(data))).hexdigest()


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^\w*Error\b", line.strip())]
    return (errors or lines or [type(error).__name__])[0].strip()


@atexit.register
def _close_workers() -> None:
    for worker in list(_workers):
        worker.close()


@dataclass(frozen=True)
class XStateModule:
    """One machine version's module, compiled into a worker."""

    path: Path
    worker: Worker
    key: str
    exports: tuple[str, ...]


@dataclass(frozen=True)
class XStateMigration:
    """A migration module: from the version before to the one it is attached to."""

    path: Path
    worker: Worker
    key: str


def load_module(path: Path, worker: Worker, kind: str = "machine") -> XStateModule:
    key, exports = worker.load(path.read_text(), kind)
    return XStateModule(path, worker, key, tuple(exports))


def load_migration(path: Path, worker: Worker) -> XStateMigration:
    key, _ = worker.load(path.read_text(), "migration")
    return XStateMigration(path, worker, key)


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
        state: JSON | None,
        context: dict[str, JSON],
        events: list[dict[str, JSON]],
        settle_timeout: float,
        check: AuthRequest | None,
    ) -> Outcome:
        module = _module(version)
        worker = module.worker
        arguments = None
        if check is not None and "allowWrite" in module.exports:
            arguments = _authorizer_arguments(check)
        try:
            answer = await worker.submit(
                worker.run(module.key, state, context, events, settle_timeout, arguments)
            )
        except LimitReached as error:
            logs = await worker.submit(worker.stray_logs())
            line = LogLine(self.clock(), "stderr", f"{error}; the event was refused")
            raise MachineError(str(error), [*self._lines(logs), line], error.code) from error
        except Exception as error:
            logs = await worker.submit(worker.stray_logs())
            trace = str(error).strip() or type(error).__name__
            raise MachineError(
                f"the machine's code failed: {_first_line(error)}",
                [*self._lines(logs), LogLine(self.clock(), "stderr", trace)],
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
    ) -> Outcome:
        return await self._run(version, None, context, [], settle_timeout, check)

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
    ) -> Outcome:
        return await self._run(
            version, snapshot.state, snapshot.context, list(events), settle_timeout, check
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
        arguments = json.dumps(_authorizer_arguments(request))
        worker = module.worker
        allowed = await worker.submit(worker.call("authorize", module.key, kind, arguments))
        return bool(allowed)

    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        migration = to.migrate
        module = _module(to)
        if not isinstance(migration, XStateMigration):
            raise MachineError(f"no migration module leads to version {to.label!r}")
        worker = module.worker
        try:
            state = await worker.submit(
                worker.call(
                    "migrate",
                    migration.key,
                    module.key,
                    json.dumps(snapshot.state),
                    json.dumps(snapshot.context),
                )
            )
        except Exception as error:
            raise MachineError(
                f"the migration {migration.path.name} failed: {_first_line(error)}"
            ) from error
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
    ) -> Outcome:
        return await self._for(version).start(version, context, settle_timeout, machine, check)

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
    ) -> Outcome:
        engine = self._for(version)
        return await engine.apply(version, snapshot, events, settle_timeout, machine, check)

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
    "Worker",
    "XStateEngine",
    "XStateMigration",
    "XStateModule",
    "load_migration",
    "load_module",
    "wrap_module",
]

"""The pool of worker processes that run machine code (`xstate_worker`), seen from the
server: each worker holds every module loaded; a call goes to the least busy one and has a
deadline measured here, outside V8; a worker past it, past its memory cap, or dead is
killed and replaced (see `xstate`'s docstring)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smb_tui.local.engines.xstate_module import wrap_module
from smb_tui.local.engines.xstate_worker import (
    CPU_SECONDS,
    LOAD_SECONDS,
    MEMORY_BYTES,
)

SLACK_SECONDS = 0.5  # the pipe and the worker's own work, on top of a deadline
WORKER_MEMORY_BYTES = 1024 * 1024 * 1024  # a worker's resident memory, all its isolates
START_SECONDS = 30.0  # a new worker: Python, V8, every module
ANSWER_BYTES = 64 * 1024 * 1024  # one answer from a worker, the largest read
_keys = itertools.count(1)
_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
log = logging.getLogger(__name__)


def default_workers() -> int:
    """Workers in a pool when not told: one a core, at least 2 (so that a runaway event
    never holds up the others), at most 4."""
    return min(4, max(2, os.cpu_count() or 2))


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
        reader = asyncio.StreamReader(limit=ANSWER_BYTES)
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
        except json.JSONDecodeError:
            pass  # a worker that says nonsense is as good as dead
        except ValueError:  # a line past the reader's limit
            self.why = LimitReached(
                f"the machine's run answered more than {ANSWER_BYTES // 2**20} MB (what it"
                " logged, or a state that large)",
                "machine-memory-limit",
            )
        except ConnectionError:
            pass
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
        self._first_start: asyncio.Task[object] | None = None  # the workers started with it
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
        """On the server's loop: the first worker attached, the others started. The server
        serves meanwhile (what runs no machine code is answered at once), but no call
        goes to a worker until all of them are ready, so that the first runaway already
        has a worker beside it (a runaway also stalls the other calls in its own worker:
        mini-racer resolves a host call's promise with a blocking call into the busy
        isolate)."""
        self._changed = asyncio.Event()
        for worker in self.workers:
            await worker.attach(self._died)
            worker.ready = True
        while len(self.workers) + len(self._starting) < self.size:
            self._spawn()
        if self._starting:
            self._first_start = asyncio.create_task(
                asyncio.wait(set(self._starting), timeout=START_SECONDS)
            )

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
        if self._first_start is not None:
            if not self._first_start.done():  # shielded: one caller's cancel is its own
                await asyncio.shield(self._first_start)
            self._first_start = None
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
        for task in [*self._starting, *filter(None, [self._first_start])]:
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

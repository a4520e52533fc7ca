"""A worker process that runs XState machine modules on V8 (mini-racer), for the server.

Machine code is written by people the server does not trust, so it never runs in the
server's process: the server (`engines.xstate_pool.WorkerPool`) starts a few of these
processes, sends them requests on stdin and reads answers on stdout, one JSON object a
line, and kills a worker whose answer does not come by its deadline. A loop, a crash or a
leak in machine code costs one worker, never the server.

V8 is initialized first thing, on the main thread, before any other thread exists: V8
guards its code pages with memory protection keys where the CPU has them (`pku`), and a
thread born before V8's initialization lacks the keys' rights and segfaults when it runs
JavaScript. `--no-memory-protection-keys` makes that impossible on any CPU.

Each machine version has a context of its own (one isolate), holding its module and the
migration modules that lead to it: no version can see, replace or call another's code or
data. `js/web.js` and `js/engine.js` run inside one function per context that receives the
host's functions as arguments, so nothing of the host is a global machine code could reach;
`__smb`, the only global Python calls, asks every call for the context's secret. Each
machine instance gets its own instance of the module (see engine.js).

Requests (`op`): `load` (a module: key, kind, source, target version for a migration),
`run` (start or apply events, wait until it settles), `authorize`, `migrate`. Answers:
`{"id", "ok": value}` or `{"id", "error", "code"}`; a run whose services are still running
after its first call says `{"id", "settling": true}` first, so the server gives it the
settle time-out rather than the CPU limit. Host functions check everything here:
`fetch` only with `--allow-fetch`, body streamed up to its cap, no redirect followed to
another origin; each run's timers and fetches are counted with a cap and dropped when the
run finishes.

Why one module of ~470 lines: it is the worker's whole program, the only code that
runs beside machine code, and it imports nothing of smb_tui, so that what stands between
untrusted JavaScript and this machine (the host functions and their caps) is read in one
place.
"""

from __future__ import annotations

import os
import sys

# V8 before anything that could start a thread (asyncio's executor, httpx, imports).
if __name__ == "__main__":  # pragma: no branch
    from py_mini_racer import DEFAULT_V8_FLAGS, init_mini_racer

    init_mini_racer(flags=(*DEFAULT_V8_FLAGS, "--no-memory-protection-keys"))

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import secrets
import zlib
from pathlib import Path
from typing import Any

CPU_SECONDS = 1.0  # per call into machine code (the server's deadline is the hard one)
ENTROPY_BYTES = 4096  # crypto.getRandomValues' pool, topped up before each call
MEMORY_BYTES = 128 * 1024 * 1024  # heap growth one context may make past its modules
LOAD_SECONDS = 10.0
FETCH_MAX_BYTES = 10 * 1024 * 1024
FETCH_MAX_REDIRECTS = 5
FETCHES_PER_RUN = 50
SLEEPS_PER_RUN = 1000  # as web.js's MAX_TIMERS: host.sleep is counted here too
SETTLE_ERROR = "SettleTimeout"  # data.name of the error event a stopped service leaves

_JS = Path(__file__).parent / "js"


class MemoryLimit(Exception):
    pass


class CpuLimit(Exception):
    pass


def first_line(error: BaseException) -> str:
    """The JavaScript error's own line (`TypeError: ...`) out of mini-racer's message."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^\w*Error\b", line.strip())]
    return (errors or lines or [type(error).__name__])[0].strip()


class Run:
    """What the host keeps of a run: its pending sleeps and fetches, dropped at its end."""

    def __init__(self) -> None:
        self.sleeps: dict[int, asyncio.Future[None]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.slept = 0
        self.fetched = 0

    def end(self) -> None:
        for cleared in self.sleeps.values():
            if not cleared.done():
                cleared.cancel()
        for task in self.tasks:
            task.cancel()
        self.sleeps.clear()


class Context:
    """One machine version's V8 isolate, with its module and the migrations leading to it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.secret = secrets.token_hex(16)
        self.modules: list[tuple[str, str, str]] = []  # key, kind, factory source
        self.racer: Any = None
        self._maker: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.runs: dict[int, Run] = {}
        self.wanted = ENTROPY_BYTES
        self.refilling: asyncio.Task[None] | None = None

    async def open(self) -> None:
        from py_mini_racer import mini_racer

        loop = asyncio.get_running_loop()
        self._maker = mini_racer(loop)
        racer = self.racer = self._maker.__enter__()
        self._stack = contextlib.AsyncExitStack()
        wrap = racer.wrap_py_function
        host = [
            await self._stack.enter_async_context(wrap(function))
            for function in (_digest, self._fetch, self._sleep, self._wake, _zlib, _aes, _subtle)
        ]
        source = (_JS / "web.js").read_text() + "\n" + (_JS / "engine.js").read_text()
        install = racer.eval(
            "(function (digest, fetch, sleep, wake, zlib, aes, keys, secret, settleError,"
            " fetchAllowed) {\n'use strict';\n"
            "const py = Object.freeze({ digest, fetch, sleep, wake, zlib, aes, subtle: keys });\n"
            f"{source}\n;return 0;\n}})"
        )
        install(*host, self.secret, SETTLE_ERROR, self.worker.allow_fetch)
        self.wanted = ENTROPY_BYTES
        for key, kind, factory in self.modules:
            await self._define(key, kind, factory)
        self._limit_memory()

    async def close(self) -> None:
        for run in self.runs.values():
            run.end()
        self.runs.clear()
        if self._stack is not None:
            with contextlib.suppress(Exception):
                await self._stack.aclose()
        if self._maker is not None:
            with contextlib.suppress(Exception):
                self._maker.__exit__(None, None, None)
        self._maker = self._stack = self.racer = None

    async def reopen(self) -> None:
        """A fresh isolate with the same modules: after machine code ran out of memory,
        nothing of that heap is left to fail the next event."""
        await self.close()
        await self.open()

    async def load(self, key: str, kind: str, factory: str) -> list[str]:
        names = await self._define(key, kind, factory)
        self.modules.append((key, kind, factory))
        self._limit_memory()
        return names

    def _limit_memory(self) -> None:
        """The heap may grow MEMORY_BYTES past what the loaded modules hold."""
        used = int(self.racer.heap_stats()["used_heap_size"])
        self.racer.set_hard_memory_limit(used + MEMORY_BYTES)

    async def _define(self, key: str, kind: str, factory: str) -> list[str]:
        from py_mini_racer import JSEvalException

        head = ", ".join(json.dumps(part) for part in (self.secret, key, kind))
        code = f"__smb.define({head},\n{factory}\n)"
        try:
            names = await asyncio.wait_for(self.racer.eval_cancelable(code), LOAD_SECONDS)
        except TimeoutError as error:
            raise ValueError(f"it ran for more than {LOAD_SECONDS:g} s when loaded") from error
        except JSEvalException as error:
            raise ValueError(first_line(error)) from error
        return str(names).split(",") if names else []

    async def call(self, function: str, *args: str | int | None) -> Any:
        """`__smb.<function>(secret, entropy, *args)`; its answer's value."""
        from py_mini_racer import JSOOMException

        entropy = os.urandom(self.wanted).hex() if self.wanted else ""
        # As source, and synchronously (a third cheaper than eval_cancelable): a call that
        # runs away blocks this worker, and the server's deadline kills it.
        arguments = ", ".join(json.dumps(a) for a in (self.secret, entropy, *args))
        try:
            raw = self.racer.eval(f"__smb.{function}({arguments})")
        except JSOOMException as error:
            await self.reopen()
            raise MemoryLimit() from error
        answer = json.loads(str(raw))
        self.wanted = min(int(answer["wanted"]), ENTROPY_BYTES)
        if answer["refill"]:
            self.refill_soon()
        return answer["value"]

    def refill_soon(self) -> None:
        """Make the next new instance's module instance now, while the server is busy with
        this run's answer."""
        if self.refilling is None or self.refilling.done():
            self.refilling = asyncio.create_task(self._refill())

    async def _refill(self) -> None:
        with contextlib.suppress(Exception):
            await self.racer.eval_cancelable(f"__smb.refill({json.dumps(self.secret)})")

    async def run(
        self,
        key: str,
        instance: str,
        state: Any,
        context: Any,
        events: Any,
        settle_timeout: float,
        check: Any,
        settling: Any,
        parent: Any = None,
        replay: bool = False,
    ) -> dict[str, Any]:
        """Apply `events` (or start, when `state` is None) and wait until the run settles:
        no invoked service running, or `settle_timeout` passed (those running stop)."""
        request = {
            "key": key,
            "name": instance,
            "state": state,
            "context": context,
            "events": events,
            "check": check,
            "parent": parent,
            "replay": replay,
        }
        summary = await self.call("begin", json.dumps(request))
        if "answer" in summary:
            self._end(summary["id"])
            await self.drained()
            done: dict[str, Any] = summary["answer"]
            return done
        if "id" not in summary:  # refused, or failed before anything ran
            failed: dict[str, Any] = summary
            return failed
        run_id = int(summary["id"])
        self.runs.setdefault(run_id, Run())
        try:
            if summary["running"]:
                settling()
                settled = await self.racer.eval_cancelable(
                    f"__smb.settled({json.dumps(self.secret)}, {run_id})"
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_awaited(settled), settle_timeout)
            answer: dict[str, Any] = await self.call("finish", run_id)
        finally:
            self._end(run_id)
        await self.drained()
        return answer

    async def drained(self) -> None:
        """Wait until the isolate is idle: promise callbacks the run left queued run after
        its last call returns, and a loop of them must be charged to this run, not to the
        next. Past the CPU limit the isolate is stopped and made anew."""
        from py_mini_racer import JSOOMException

        try:
            await asyncio.wait_for(self.racer.eval_cancelable("0"), CPU_SECONDS)
        except TimeoutError as error:
            await self.reopen()
            raise CpuLimit() from error
        except JSOOMException as error:
            # The heap the run left (its answer made, or a refill after it) is past the
            # limit: as when a call runs out, never "the machine's code failed".
            await self.reopen()
            raise MemoryLimit() from error

    def _end(self, run_id: int) -> None:
        run = self.runs.pop(int(run_id), None)
        if run is not None:
            run.end()

    # --- the host's functions, called from machine code through web.js
    def _run(self, run_id: Any) -> Run:
        return self.runs.setdefault(int(run_id), Run())

    async def _sleep(self, run_id: Any, timer: Any, milliseconds: Any) -> bool:
        """setTimeout's wait: True when due, False when cleared or the run is over."""
        run = self._run(run_id)
        run.slept += 1
        if run.slept > SLEEPS_PER_RUN:
            return False
        cleared = run.sleeps[int(timer)] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(cleared, max(0.0, float(milliseconds)) / 1000)
            return False
        except TimeoutError:
            return True
        except asyncio.CancelledError:
            return False
        finally:
            run.sleeps.pop(int(timer), None)

    async def _wake(self, run_id: Any, timer: Any) -> None:
        run = self.runs.get(int(run_id))
        cleared = run.sleeps.pop(int(timer), None) if run else None
        if cleared is not None and not cleared.done():
            cleared.set_result(None)

    async def _fetch(self, run_id: Any, url: Any, method: Any, headers: Any, body: Any) -> str:
        if not self.worker.allow_fetch:  # whoever calls: web.js refuses first, this is the rule
            return json.dumps({"error": "refused: smb-tui local was not started --allow-fetch"})
        run = self._run(run_id)
        run.fetched += 1
        if run.fetched > FETCHES_PER_RUN:
            return json.dumps({"error": f"one event may fetch at most {FETCHES_PER_RUN} times"})
        task = asyncio.current_task()
        if task is not None:
            run.tasks.add(task)
        try:
            return json.dumps(await _fetch(str(url), str(method), str(headers), body))
        except asyncio.CancelledError:
            return json.dumps({"error": "the event that asked for it is over"})
        except Exception as error:
            return json.dumps({"error": f"{type(error).__name__}: {error}"})
        finally:
            if task is not None:
                run.tasks.discard(task)


async def _fetch(url: str, method: str, headers_json: str, body: Any) -> dict[str, Any]:
    """One fetch: redirects followed only within the origin, the body read up to its cap."""
    import httpx

    headers = [tuple(pair) for pair in json.loads(headers_json)]
    content = None if body is None else base64.b64decode(str(body))  # bytes as sent
    origin = httpx.URL(url)
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        for _ in range(FETCH_MAX_REDIRECTS + 1):
            request = client.build_request(method, url, headers=headers, content=content)
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    target = response.url.join(location)
                    if (target.scheme, target.host, target.port) != (
                        origin.scheme,
                        origin.host,
                        origin.port,
                    ):
                        return {"error": f"a redirect to another origin ({target.host}) refused"}
                    url = str(target)
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, content = "GET", None
                    continue
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > FETCH_MAX_BYTES:
                        return {"error": f"the answer is over {FETCH_MAX_BYTES} bytes"}
                    chunks.append(chunk)
                return {
                    "status": response.status_code,
                    "statusText": response.reason_phrase,
                    "headers": list(response.headers.multi_items()),
                    "body": base64.b64encode(b"".join(chunks)).decode(),
                }
            finally:
                await response.aclose()
    return {"error": f"more than {FETCH_MAX_REDIRECTS} redirects"}


async def _awaited(promise: Any) -> Any:
    return await promise


async def _digest(name: Any, data: Any) -> str:
    return hashlib.new(str(name).replace("-", "").lower(), bytes.fromhex(str(data))).hexdigest()


# CompressionStream / DecompressionStream formats, as zlib's window bits.
_ZLIB_FORMATS = {"gzip": 31, "deflate": 15, "deflate-raw": -15}
MAX_INFLATED = 10 * 1024 * 1024  # what one DecompressionStream may give (a bomb stops here)


async def _zlib(mode: Any, format: Any, data: Any) -> str:
    """(De)compress base64 `data` whole for web.js's streams: JSON `{"ok": base64}` or
    `{"error": why}` (a corrupt or truncated input, or one inflating past the cap)."""
    bits = _ZLIB_FORMATS[str(format)]
    raw = base64.b64decode(str(data))
    if mode == "compress":
        packer = zlib.compressobj(wbits=bits)
        return json.dumps({"ok": base64.b64encode(packer.compress(raw) + packer.flush()).decode()})
    unpacker = zlib.decompressobj(wbits=bits)
    try:
        out = unpacker.decompress(raw, MAX_INFLATED + 1)
    except zlib.error as error:
        return json.dumps({"error": f"the data is not {format}: {error}"})
    if len(out) > MAX_INFLATED:
        return json.dumps({"error": f"it inflates past {MAX_INFLATED // 2**20} MB"})
    if not unpacker.eof or unpacker.unused_data:
        return json.dumps({"error": f"the {format} data is truncated, or has more after its end"})
    return json.dumps({"ok": base64.b64encode(out).decode()})


async def _aes(operation: Any, key: Any, iv: Any, data: Any, aad: Any) -> str:
    """AES-GCM for web.js's crypto.subtle (base64 in and out): JSON `{"ok": base64}` or
    `{"error": why}` (a ciphertext that is not authentic)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher = AESGCM(base64.b64decode(str(key)))
    nonce, message = base64.b64decode(str(iv)), base64.b64decode(str(data))
    associated = base64.b64decode(str(aad)) or None
    try:
        if operation == "encrypt":
            out = cipher.encrypt(nonce, message, associated)
        else:
            out = cipher.decrypt(nonce, message, associated)
    except InvalidTag:
        return json.dumps({"error": "the data is not authentic under this key, iv and data"})
    except ValueError as error:
        return json.dumps({"error": str(error)})
    return json.dumps({"ok": base64.b64encode(out).decode()})


async def _subtle(request: Any) -> str:
    """crypto.subtle beyond HMAC and AES-GCM (webcrypto.py, which loads `cryptography`
    when machine code first asks for it)."""
    from smb_tui.local.engines import webcrypto

    return await webcrypto.subtle(request)


class Worker:
    """The process's loop: requests in, answers out, each request a task of its own."""

    def __init__(self, out: Any, allow_fetch: bool) -> None:
        self.out = out
        self.allow_fetch = allow_fetch
        self.contexts: dict[str, Context] = {}  # by machine version key
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview(json.dumps(message).encode() + b"\n")
        while data:
            data = data[self.out.write(data) :]

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():  # the server closed our stdin: stop
            message = json.loads(line)
            task = asyncio.create_task(self.answer(message))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        for context in self.contexts.values():
            await context.close()

    async def answer(self, message: dict[str, Any]) -> None:
        ident = message["id"]
        try:
            value = await self.handle(message)
        except MemoryLimit:
            self.send({"id": ident, "error": "memory", "code": "machine-memory-limit"})
        except CpuLimit:
            self.send({"id": ident, "error": "cpu", "code": "machine-cpu-limit"})
        except ValueError as error:
            self.send({"id": ident, "error": str(error), "code": "invalid"})
        except Exception as error:
            text = str(error).strip() or type(error).__name__
            self.send({"id": ident, "error": text, "line": first_line(error), "code": "failed"})
        else:
            self.send({"id": ident, "ok": value})

    async def handle(self, message: dict[str, Any]) -> Any:
        op = message["op"]
        if op == "load":
            target = message.get("target") or message["key"]
            context = self.contexts.get(target)
            if context is None:
                context = Context(self)
                await context.open()
                self.contexts[target] = context
            try:
                return await context.load(message["key"], message["kind"], message["source"])
            except ValueError:
                if not context.modules:
                    await context.close()
                    del self.contexts[target]
                raise
        context = self.contexts[message["key"]]
        if op == "run":
            return await context.run(
                message["key"],
                message["instance"],
                message["state"],
                message["context"],
                message["events"],
                float(message["settle"]),
                message.get("check"),
                lambda: self.send({"id": message["id"], "settling": True}),
                message.get("parent"),
                bool(message.get("replay")),
            )
        if op == "authorize":
            asked = {
                "key": message["key"],
                "name": message["instance"],
                "kind": message["kind"],
                "request": message["request"],
            }
            allowed = await context.call("authorize", json.dumps(asked))
            return bool(allowed)
        if op == "definition":
            return await context.call("definition", message["key"])
        if op == "resolve":
            asked = {
                "key": message["key"],
                "value": message["value"],
                "context": message["context"],
            }
            return await context.call("resolve", json.dumps(asked))
        if op == "migrate":
            moved = {
                "migration": message["migration"],
                "to": message["key"],
                "state": message["state"],
                "context": message["context"],
            }
            state = await context.call("migrate", json.dumps(moved))
            return state
        raise ValueError(f"no such request: {op}")


def main() -> None:
    allow_fetch = "--allow-fetch" in sys.argv[1:]
    # stdout is the server's: anything else printed here goes to stderr.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    asyncio.run(Worker(out, allow_fetch).serve())


if __name__ == "__main__":
    main()

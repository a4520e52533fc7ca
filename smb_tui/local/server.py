"""Starting the local server: from the command line, or in a thread beside the app or tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from smb_tui.core.keys import LocalKey, load_or_create_key
from smb_tui.core.text import safe
from smb_tui.local.app import create_app
from smb_tui.local.definitions import MachineDefinition
from smb_tui.local.demo import DEMO_MACHINES, DEMO_MODULES, seed
from smb_tui.local.deploy import Deployments
from smb_tui.local.machines import ModuleLoader, load_definitions
from smb_tui.local.options import ServerOptions
from smb_tui.local.service import LocalService, Settings
from smb_tui.local.store import Store
from smb_tui.local.watch import Watcher

log = logging.getLogger(__name__)


class AcceptErrors:
    """Out of file descriptors, asyncio logs a traceback for every accept that fails
    (2.6 GB of log in 40 s): say it once per interval, with a count, instead."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.missed = 0
        self._said_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if context.get("message") != "socket.accept() out of system resource":
            loop.default_exception_handler(context)
            return
        self.missed += 1
        now = time.monotonic()
        if self._said_at is not None and now - self._said_at < self.interval:
            return
        log.error(
            "cannot accept connections: %s (%d refused since the last report); raise the"
            " limit (ulimit -n) or lower --max-connections",
            error,
            self.missed,
        )
        self._said_at, self.missed = now, 0


class DeadlineH11(H11Protocol):
    """HTTP/1.1 that closes a connection whose request headers have not all come within
    the idle time-out: a client that connects and says nothing, or trickles its headers,
    no longer holds a connection (and a descriptor) for ever. uvicorn's keep-alive
    time-out only counts between complete requests."""

    idle_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.get_protocol() is not self:
            # Upgraded to a WebSocket: the connection is the realtime session's now, kept
            # by its pings; the HTTP idle time-out must not close it.
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            return
        if self._waiting_for_headers():
            if self._deadline is None:
                self._arm()
        elif self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.idle_timeout, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()


def set_start_up_aside() -> None:
    """For a process that is its server's (`smb-tui local`, the demo's), once it serves:
    what start-up made set aside from Python's cycle collector for good, and the collector,
    off while it started, on again.

    Start-up makes over 100,000 objects that live as long as the process (modules,
    classes, FastAPI's and pydantic's schemas) and few cycles. Collected while they were
    made, they cost a twentieth of the start and freed nothing; kept in the collector, each
    full collection walks them all again: under 8 senders one came every 1.5 s and held
    the loop for 25-56 ms, every request in flight waiting behind it (the longest wait
    50-71 ms); with them set aside, 0.6-3 ms (the longest wait 15-19 ms)."""
    gc.freeze()
    gc.enable()


def log_to_file(path: Path) -> dict[str, Any]:
    """A logging config that sends uvicorn's and our warnings to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = {"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": handler},
        "loggers": {
            name: {"handlers": ["file"], "level": "WARNING", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "smb_tui")
        },
    }


class LocalServer:
    """One local server: its store, service and ASGI app, served by uvicorn."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.key = options.key or load_or_create_key(options.key_path)
        definitions: list[MachineDefinition] = []
        loader = self.loader = ModuleLoader(options.allow_fetch, options.workers)
        if options.demo:
            definitions.extend(DEMO_MACHINES)
            definitions.extend(load_definitions(DEMO_MODULES, loader=loader))
        if options.machines_dir is not None:
            definitions.extend(load_definitions(options.machines_dir, loader=loader))
        options.db.parent.mkdir(parents=True, exist_ok=True)
        self.definitions = definitions
        self.store: Store | None = None
        self.service: LocalService | None = None
        self.base_url = ""
        self.started = threading.Event()
        self.seeded = threading.Event()
        self._server: uvicorn.Server | None = None
        self._stop_requested = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it serves on

    async def serve(self) -> None:
        """Serve until stopped (Ctrl-C, SIGTERM or `stop()`)."""
        self.loop = asyncio.get_running_loop()
        self.loop.set_exception_handler(AcceptErrors())
        store = Store(self.options.db, self.options.clock)
        self.store = store
        engine = self.options.engine
        if engine is None:  # XState modules may come later, deployed
            from smb_tui.local.engines.statechart import StatechartEngine
            from smb_tui.local.engines.xstate import MixedEngine, XStateEngine

            engine = MixedEngine(StatechartEngine(store.clock), XStateEngine(store.clock))
        service = LocalService(
            store,
            self.definitions,
            Settings(
                settle_timeout=self.options.settle_timeout,
                page_size=self.options.page_size,
                timer_retry=self.options.timer_retry,
            ),
            engine,
        )
        self.service = service
        deployments = Deployments(service, self.loader)
        for failure in deployments.restore():  # what was deployed before a restart
            log.error("a deployed module no longer loads and is skipped: %s", safe(failure))
        watcher = None
        if self.options.machines_dir is not None:
            watcher = Watcher(self.options.machines_dir, service, self.loader)
            for failure in watcher.restore():  # versions --watch made before a restart
                log.error("a watched version no longer loads and is skipped: %s", safe(failure))
        await self.loader.start()  # the XState worker processes answer on this loop
        watching = None
        if watcher is not None and self.options.watch:
            watching = asyncio.create_task(watcher.run())
        seeding = None
        if self.options.demo and not store.has_instances():
            # Serve at once; the demo instances appear as they are made.
            seeding = asyncio.create_task(seed(service, self.options.busy_history))
            seeding.add_done_callback(self._seeded)
        else:
            self.seeded.set()
        app = create_app(
            service,
            self.key,
            frozenset(self.options.org_ids),
            deployments,
            self.options.cors_origins,
        )
        log_config = uvicorn.config.LOGGING_CONFIG
        if self.options.log_file is not None:
            # Beside a full-screen app, the terminal is not ours to write to.
            log_config = log_to_file(self.options.log_file)
        config = uvicorn.Config(
            app,
            host=self.options.host,
            port=self.options.port,
            log_config=log_config,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            ws_ping_interval=None,
            limit_concurrency=self.options.max_connections,
            http=type("Http", (DeadlineH11,), {"idle_timeout": self.options.idle_timeout}),
            timeout_keep_alive=max(1, round(self.options.idle_timeout)),
        )
        self._server = uvicorn.Server(config)
        self._server.should_exit = self._stop_requested  # stopped while it was starting
        self._server.config.load()
        try:
            sockets = None if self.options.sock is None else [self.options.sock]
            startup = asyncio.create_task(_serving(self._server, sockets))
            while not self._server.started and not startup.done():
                await asyncio.sleep(0.01)
            if self._server.started:
                host, port = self._server.servers[0].sockets[0].getsockname()[:2]
                host = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
                self.base_url = f"http://{host}:{port}"
            self.started.set()
            await startup
        finally:
            # Also when uvicorn could not bind and exits: nobody may wait on us forever.
            self.started.set()
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            if seeding is not None and not seeding.done():
                seeding.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await seeding
            store.close()
            await self.loader.aclose()

    def _seeded(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("seeding the demo data failed: %r", task.exception())
        self.seeded.set()

    def stop(self) -> None:
        self._stop_requested = True
        if self._server is not None:
            self._server.should_exit = True


async def _serving(server: uvicorn.Server, sockets: list[socket.socket] | None) -> None:
    """uvicorn's serve, where not binding is an OSError: uvicorn logs why and calls
    sys.exit, which out of a task stops the loop mid-way and ends in a traceback."""
    try:
        await server.serve(sockets)
    except SystemExit as error:
        if server.started or error.code in (0, None):  # a SIGTERM handler ending it well
            raise
        raise OSError(f"the server did not start (uvicorn's status {error.code})") from None


class ServerThread:
    """A local server in a thread of its own, for the demo and for tests (port 0: any free)."""

    def __init__(self, options: ServerOptions) -> None:
        self.server = LocalServer(options)
        self._thread = threading.Thread(target=self._run, name="smb-local-server", daemon=True)
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def key(self) -> LocalKey:
        return self.server.key

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self.server.started.set()
            self.server.seeded.set()

    def start(self, timeout: float = 60, wait_for_seed: bool = True) -> ServerThread:
        self._thread.start()
        if not self.server.started.wait(timeout):
            raise RuntimeError("the local server did not start in time")
        if wait_for_seed and not self.server.seeded.wait(timeout):
            raise RuntimeError("the local server did not seed its demo data in time")
        if self._error is not None:
            raise RuntimeError(f"the local server failed to start: {self._error}")
        return self

    def stop(self) -> None:
        self.server.stop()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

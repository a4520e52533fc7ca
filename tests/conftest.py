"""Shared fixtures: real local servers on free ports of 127.0.0.1."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.demo import BUSY_HISTORY
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.local.xstate_build import exclusive

pytest_plugins = ["pytester"]  # the plugin test runs a throwaway project

MACHINES = Path(__file__).parent / "machines"
_slugs = itertools.count()

# The demo's counter/busy, as test servers seed it: five pages of 100. The demo's own
# 10,000 (BUSY_HISTORY) cost each server 2-3 s to seed; the few tests that need them
# share `long_server`.
SHORT_HISTORY = 450
LONG_HISTORY_GROUP = "long-history"


def free_port() -> int:
    """A port nothing listens on now (for servers that must come back on the same one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    """An instance slug no other test uses."""
    return f"{prefix}-{os.getpid()}-{next(_slugs)}"


def client(server: ServerThread, sub: str | None = "demo-user", **headers: str) -> httpx.Client:
    context = {"sub": sub} if sub else {}
    token = sign_key_token(server.key, context)
    return httpx.Client(
        base_url=server.base_url,
        headers={"authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


def history(http: httpx.Client, machine: str, slug: str) -> list[dict[str, object]]:
    """Every transition of an instance, newest first, paged over HTTP."""
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        body = http.get(f"/machines/{machine}/i/{slug}/events", params=params).json()
        items.extend(body["transitions"])
        cursor = body.get("cursor")
        if not cursor:
            return items


def until(condition: Callable[[], object], what: str) -> None:
    """Wait for a server to act on what the test did (not for time to pass: where a
    timer is involved, the server's clock is the test's ManualClock)."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def start_server(tmp: Path, **options: object) -> ServerThread:
    settings = ServerOptions(
        db=tmp / "local.db",
        key=LocalKey.generate(),
        machines_dir=MACHINES,
        settle_timeout=1.0,
        port=0,
        busy_history=SHORT_HISTORY,
    )
    for name, value in options.items():
        setattr(settings, name, value)
    return ServerThread(settings).start()


def server_with_machines(tmp: Path, modules: dict[str, str], **options: object) -> ServerThread:
    """A server with no demo, of the machines in `modules` (file name -> Python source)."""
    machines = tmp / "machines"
    machines.mkdir()
    for name, source in modules.items():
        (machines / name).write_text(source)
    return start_server(tmp, demo=False, machines_dir=machines, **options)


ORDER_SEED = 1846709709  # the seed that found the last two order dependencies


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The tests run shuffled, in the same order every run (CI must not depend on the
    luck of a seed): pytest-randomly's seed is ORDER_SEED unless one is given
    (`--randomly-seed=N`; `-p no:randomly` runs them in file order)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("randomly"):
        return  # an xdist worker takes the seed its controller chose
    if config.getoption("randomly_seed") == "default":
        config.option.randomly_seed = ORDER_SEED


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that starts the demo sends this process's warnings to a file, as the app
    does (`propagate` off): the tests after it must still see them (caplog)."""
    names = ("smb_tui", "smb_tui.api", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate, logger.level, logger.disabled)
    yield
    for name, (handlers, propagate, level, disabled) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _environment_as_it_was() -> Iterator[None]:
    """The app sets NO_COLOR for a dumb terminal, for the rest of its process: in a test
    worker that is every later test's process, whose apps then painted without colour
    (18 snapshot tests failed in one order). What a test changes in the environment is
    put back after it."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The demo server (counter/busy with SHORT_HISTORY transitions) and the test
    machines."""
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def long_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The demo server with the demo's own counter/busy: BUSY_HISTORY transitions, 100
    pages. Its tests run in one test worker (`pytest_collection_modifyitems`), so it
    is seeded once a run."""
    running = start_server(tmp_path_factory.mktemp("long"), busy_history=BUSY_HISTORY)
    yield running
    running.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of the long history share one worker, and so one seeded `long_server`
    (the suite runs with `--dist loadgroup`)."""
    for item in items:
        if "long_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(LONG_HISTORY_GROUP))


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with client(server) as session:
        yield session


NEEDS_NODE = ("node and npm are needed", "npm could not install")


def npm_folder(folder: Path, packages: list[str], marker: str, what: str) -> Path:
    """`folder` with `packages` installed by npm (once: `marker`, a path under
    node_modules, says they are); the test is skipped without node or npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(f"node and npm are needed for {what}")
    with exclusive(folder):  # test workers in parallel install once, one at a time
        if (folder / "node_modules" / marker).is_dir():
            return folder
        installed = _npm_install(folder, packages)
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {what}: {installed.stderr[-300:]}")
    return folder


def _npm_install(folder: Path, packages: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-save", *packages],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests were skipped for want of node and npm (XState builds, the
    official token library): a run without them checks less, and should say so."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if any(reason in str(report.longrepr) for reason in NEEDS_NODE)
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} tests skipped: they need node and npm (XState modules, "
            "@statebacked/token)",
            yellow=True,
        )
    browser = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "no Chromium" in str(report.longrepr)
    ]
    if browser:
        terminalreporter.write_line(
            f"{len(browser)} tests skipped: they need Chromium (smb-tui serve in a browser;"
            " apt install chromium)",
            yellow=True,
        )

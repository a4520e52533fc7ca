"""The built-in demo: a local server on a free port, with demo machines, in a process of
its own beside the dashboard.

The only way into `smb_tui.local` from the dashboard, and only when the demo is asked for.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from smb_tui.config import Connection


class DemoServer(Protocol):
    def stop(self) -> None: ...

    def when_failed(self, report: Callable[[str], object]) -> None: ...

    def when_said(self, what: str, then: Callable[[], object]) -> None: ...


class BackgroundDemo:
    """The demo's server, coming up in a process of its own while the dashboard starts.

    Its socket listens before `start_demo` returns, and the process inherits it: the
    dashboard's first requests wait in the backlog rather than fail, and what is slow to
    start (the server's imports, the V8 workers of its XState machines, uvicorn, seeding
    a new database) runs on the other core, never on the dashboard's UI thread. If it
    cannot start, the socket closes with it (requests fail as unreachable) and
    `when_failed` says why. It ends with the dashboard, however that ends: it stops when
    its stdin closes."""

    def __init__(self, db: Path, log_file: Path, key_path: Path, host: str = "127.0.0.1") -> None:
        from smb_tui.local.options import listening_socket

        sock = listening_socket(host)
        self.host, self.port = sock.getsockname()[:2]
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "smb_tui.local.child",
                    str(sock.fileno()),
                    *map(str, (db, log_file, key_path)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(sock.fileno(),),
                start_new_session=True,  # no signal from the terminal (Ctrl-C, Ctrl-Z)
            )
        finally:
            sock.close()  # the child holds it now
        self.error: str | None = None
        self._said: set[str] = set()
        self._changed = threading.Condition()
        self._report: Callable[[str], object] | None = None
        self._waiting: list[tuple[str, Callable[[], object]]] = []
        self._stopping = False
        threading.Thread(target=self._listen, name="smb-demo-server", daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _listen(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        for line in self.process.stdout:
            said = line.decode(errors="replace").strip()
            with self._changed:
                self._said.add(said)
                self._changed.notify_all()
                due = [then for what, then in self._waiting if what == said]
                self._waiting = [(what, then) for what, then in self._waiting if what != said]
            for then in due:
                then()
        why = self.process.stderr.read().decode(errors="replace").strip()
        status = self.process.wait()
        with self._changed:
            self._said.add("ended")
            self._changed.notify_all()
            if self._stopping:
                return
            last = why.splitlines()[-1] if why else f"it ended with status {status}"
            self.error = f"the demo server could not start: {last}"
            if "serving" in self._said:
                self.error = f"the demo server stopped: {last}"
            report = self._report
        if report is not None:
            report(self.error)

    def when_failed(self, report: Callable[[str], object]) -> None:
        """Call `report` (from another thread) with why the server ended; at once if it
        already has."""
        with self._changed:
            self._report = report
            error = self.error
        if error is not None:
            report(error)

    def when_said(self, what: str, then: Callable[[], object]) -> None:
        """Call `then` (from another thread) once the server says `what`; at once if it
        has."""
        with self._changed:
            said = what in self._said
            if not said:
                self._waiting.append((what, then))
        if said:
            then()

    def wait_for(self, what: str, timeout: float) -> bool:
        """Wait until the server says `what` ("serving", "seeded"); False if it ended
        or the time ran out first."""
        with self._changed:
            self._changed.wait_for(lambda: what in self._said or "ended" in self._said, timeout)
            return what in self._said

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
        if self.process.stdin is not None:
            self.process.stdin.close()  # the child stops at EOF
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_demo(
    db: Path | None = None, key_path: Path | None = None
) -> tuple[BackgroundDemo, Connection]:
    """Listen at once and start the server beside the dashboard; a new database is seeded
    there. The connection is good as soon as this returns."""
    from smb_tui.core.keys import load_or_create_key
    from smb_tui.local.options import DEMO_USER
    from smb_tui.paths import data_dir, default_key_path

    db = db or data_dir() / "demo.db"
    key_path = key_path or default_key_path()
    key = load_or_create_key(key_path)  # made here first: the server reads the same file
    server = BackgroundDemo(db, db.parent / "demo.log", key_path)
    # Only now what the connection needs (the client, 0.15 s): the server starts meanwhile.
    from smb_tui.api.auth import KeyCredentials
    from smb_tui.config import Connection

    auth = KeyCredentials(key.key_id, key.secret, {"sub": DEMO_USER})
    return server, Connection(server.base_url, auth, None, "demo", can_act_as=True)

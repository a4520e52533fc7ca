"""The local server for a project's own tests: a Python API and a pytest plugin.

    from smb_tui.testing import start_local

    with start_local(machines="machines") as local:   # port 0: a free one
        client = local.client({"sub": "alice"})         # a StateBackedClient
        http = local.http({"sub": "alice"})              # or httpx, with a token

Installed with smb-tui, a pytest plugin (`smb_tui.pytest_plugin`) gives the fixture
`statebacked_local` on top of this. Several servers in one process work: each has its
own key, port, database and machine workers.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from smb_tui.api.client import StateBackedClient
    from smb_tui.local.clock import Clock
    from smb_tui.local.server import ServerThread

__all__ = ["DEFAULT_USER", "LocalStateBacked", "start_local"]
DEFAULT_USER: Mapping[str, Any] = {"sub": "test-user"}  # who a client acts as, unless told


@dataclass
class LocalStateBacked:
    """A running local server: its base URL and key, and clients for it."""

    base_url: str
    key_id: str
    secret: str = field(repr=False)  # a failing test prints the fixture: not this
    server: ServerThread = field(repr=False)

    @property
    def clock(self) -> Clock:
        """The server's one clock: pass `clock=ManualClock(...)` to move time yourself."""
        return self.server.server.options.clock

    def token(self, auth_context: Mapping[str, Any] | None = None) -> str:
        """A token for an end user, signed with the server's key (`auth_context`: the
        claims its authorizers see, e.g. `{"sub": "alice"}`; default DEFAULT_USER)."""
        from smb_tui.local.auth import sign_key_token

        return sign_key_token(self.server.key, _user(auth_context))

    def client(self, auth_context: Mapping[str, Any] | None = None) -> StateBackedClient:
        """smb-tui's typed client, acting as that end user (use `async with`)."""
        from smb_tui.api.auth import KeyCredentials
        from smb_tui.api.client import StateBackedClient

        credentials = KeyCredentials(self.key_id, self.secret, _user(auth_context))
        return StateBackedClient(credentials, self.base_url)

    def http(self, auth_context: Mapping[str, Any] | None = None) -> httpx.Client:
        """An httpx client on the base URL with a bearer token (use `with`)."""
        import httpx

        headers = {"authorization": f"Bearer {self.token(auth_context)}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@contextlib.contextmanager
def start_local(
    machines: str | Path | None = None,
    *,
    demo: bool = False,
    db: str | Path | None = None,
    port: int = 0,
    watch: bool = False,
    **options: Any,
) -> Iterator[LocalStateBacked]:
    """A local server until the block ends: the machines of folder `machines`, the demo
    ones if `demo`, a database at `db` (default: a temporary one, removed after),
    `port` 0 for any free port; other `ServerOptions` by name."""
    from smb_tui.core.keys import LocalKey
    from smb_tui.local.server import ServerOptions, ServerThread

    with contextlib.ExitStack() as stack:
        if db is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="statebacked-"))
            db = Path(folder) / "local.db"
        settings = ServerOptions(
            port=port,
            db=Path(db),
            machines_dir=Path(machines) if machines is not None else None,
            demo=demo,
            watch=watch,
            key=LocalKey.generate(),
            **options,
        )
        server = ServerThread(settings).start()
        stack.callback(server.stop)
        yield LocalStateBacked(server.base_url, server.key.key_id, server.key.secret, server)


def _user(auth_context: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(DEFAULT_USER if auth_context is None else auth_context)

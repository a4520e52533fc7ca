"""The built-in demo: a local server in this process, on a free port, with demo machines.

The only way into `smb_tui.local` from the dashboard, and only when the demo is asked for.
"""

from __future__ import annotations

from typing import Any, Protocol

from smb_tui.api.auth import KeyCredentials
from smb_tui.config import Connection


class DemoServer(Protocol):
    def stop(self) -> None: ...


def start_demo(options: Any = None) -> tuple[Any, Connection]:
    """Start serving at once; a new database is seeded in the background."""
    from smb_tui.local.demo import DEMO_USER
    from smb_tui.local.server import ServerOptions, ServerThread
    from smb_tui.paths import data_dir

    options = options or ServerOptions(db=data_dir() / "demo.db", log_file=data_dir() / "demo.log")
    options.port = 0
    server = ServerThread(options).start(wait_for_seed=False)
    auth = KeyCredentials(server.key.key_id, server.key.secret, {"sub": DEMO_USER})
    return server, Connection(server.base_url, auth, None, "demo", can_act_as=True)

"""The built-in demo: a local server in this process, on a free port, with demo machines."""

from __future__ import annotations

from smb_tui.api.auth import KeyCredentials
from smb_tui.config import Connection
from smb_tui.local.demo import DEMO_USER
from smb_tui.local.server import ServerOptions, ServerThread
from smb_tui.paths import data_dir


def start_demo(options: ServerOptions | None = None) -> tuple[ServerThread, Connection]:
    """Start serving at once; a new database is seeded in the background."""
    options = options or ServerOptions(db=data_dir() / "demo.db", log_file=data_dir() / "demo.log")
    options.port = 0
    server = ServerThread(options).start(wait_for_seed=False)
    auth = KeyCredentials(server.key.key_id, server.key.secret, {"sub": DEMO_USER})
    return server, Connection(server.base_url, auth, None, "demo", can_act_as=True)

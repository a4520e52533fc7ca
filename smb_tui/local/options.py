"""What a local server starts with: its options and, for the demo, its socket made
before the server itself. Light to import (no FastAPI, no runtime): the dashboard makes
these on its main thread while the server loads in another."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smb_tui.core.keys import LocalKey
from smb_tui.local.clock import Clock
from smb_tui.paths import data_dir, default_key_path

if TYPE_CHECKING:
    from smb_tui.local.engines.seam import Engine

DEMO_USER = "demo-user"  # whom the demo acts as, and whose demo instances are
DEFAULT_ORG_ID = "org_local"


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    db: Path = field(default_factory=lambda: data_dir() / "local.db")
    machines_dir: Path | None = None
    watch: bool = False  # a changed module in machines_dir becomes a new version
    allow_fetch: bool = False  # may XState machine code reach the network with fetch
    workers: int | None = None  # XState worker processes (default: from the cores)
    demo: bool = True
    key: LocalKey | None = None
    key_path: Path = field(default_factory=default_key_path)
    org_ids: tuple[str, ...] = (DEFAULT_ORG_ID,)
    page_size: int = 100
    settle_timeout: float = 10.0
    busy_history: int = 10_000
    clock: Clock = field(default_factory=Clock)  # stamps, machine code's Date, timers
    timer_retry: float = 30.0  # seconds between tries of a delayed event that failed
    log_file: Path | None = None  # where warnings go instead of the terminal
    cors_origins: tuple[str, ...] = ("*",)  # web apps on these origins may call the server
    max_connections: int = 1000  # beyond it, new connections are answered 503
    idle_timeout: float = 30.0  # seconds a connection may wait between requests
    engine: Engine | None = None  # what runs the machines (default: python-statemachine)
    # A socket already listening (made by `listening_socket`), served instead of binding
    # host and port: connections wait in its backlog while the server starts.
    sock: socket.socket | None = None


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket listening on host and port (0: any free one).

    Made with IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose `proto`
    says TCP, and an accepted socket takes its listener's; with the default 0, every
    keep-alive request would wait 40 ms for Nagle."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # an IP address's own
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock

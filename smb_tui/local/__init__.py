"""A local State Backed-compatible server: HTTP API, SQLite store, statechart runtime."""

from smb_tui.local.definitions import (
    AuthRequest,
    MachineDefinition,
    MachineVersion,
    Snapshot,
    allow_all,
)
from smb_tui.local.server import LocalServer, ServerOptions, ServerThread

__all__ = [
    "AuthRequest",
    "LocalServer",
    "MachineDefinition",
    "MachineVersion",
    "ServerOptions",
    "ServerThread",
    "Snapshot",
    "allow_all",
]

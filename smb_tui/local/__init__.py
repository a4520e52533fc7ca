"""A local State Backed-compatible server: HTTP API, SQLite store, statechart runtime.

What a machine definition module needs is importable from here; the server itself
lives in `smb_tui.local.server`.
"""

from smb_tui.local.definitions import (
    AuthRequest,
    MachineDefinition,
    MachineVersion,
    Snapshot,
    allow_all,
)

__all__ = ["AuthRequest", "MachineDefinition", "MachineVersion", "Snapshot", "allow_all"]

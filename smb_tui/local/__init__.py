"""A local State Backed-compatible server: HTTP API, SQLite store, statechart runtime.

What a machine definition module needs is importable from here; the server itself
lives in `smb_tui.local.server`. The names are imported when first used (PEP 562), so
that the demo launcher can reach `smb_tui.local.options` without loading the runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smb_tui.local.definitions import (
        AuthRequest,
        MachineDefinition,
        MachineVersion,
        Snapshot,
        allow_all,
    )

__all__ = ["AuthRequest", "MachineDefinition", "MachineVersion", "Snapshot", "allow_all"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("smb_tui.local.definitions"), name)
    globals()[name] = value
    return value

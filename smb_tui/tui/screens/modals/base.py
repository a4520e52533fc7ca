"""The base every dialog shares: one stylesheet (`modals.tcss`), and JSON shown safely."""

from __future__ import annotations

from typing import Any, TypeVar

from textual.screen import ModalScreen

from smb_tui.core.describe import (
    pretty_json,
)
from smb_tui.core.text import safe

T = TypeVar("T")


class Modal(ModalScreen[T]):
    """The look every dialog shares: one stylesheet, `modals.tcss`."""

    CSS_PATH = "modals.tcss"


def safe_json(value: Any) -> str:
    """Pretty JSON that is still valid JSON: what `safe` escapes sits inside strings."""
    return "\n".join(safe(line) for line in pretty_json(value).splitlines())

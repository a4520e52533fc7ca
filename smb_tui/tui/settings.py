"""What the dashboard remembers between runs: today, the theme the user picked.

A small TOML file of its own (`paths.settings_path()`), so that remembering a theme
never rewrites config.toml, which holds profiles and maybe secrets.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path

from smb_tui.paths import write_private_file


def load_theme(path: Path) -> str | None:
    """The saved theme's name; None when there is none or the file cannot be read (a
    broken settings file costs the user their theme, never the dashboard)."""
    try:
        theme = tomllib.loads(path.read_text()).get("theme")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return theme if isinstance(theme, str) else None


def save_theme(path: Path, theme: str) -> None:
    """Remember `theme`; a file that cannot be written is not worth an error."""
    with contextlib.suppress(OSError):
        write_private_file(path, f"theme = {json.dumps(theme)}\n")

"""Where smb-tui keeps things, and how it writes files that hold secrets."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("smb-tui"))


def config_path() -> Path:
    return Path(platformdirs.user_config_dir("smb-tui")) / "config.toml"


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("smb-tui"))


def default_key_path() -> Path:
    """The local server's generated key id and secret."""
    return data_dir() / "local-key.json"


def write_private_file(path: Path, text: str) -> None:
    """Write a file only its owner can read: created 0600, and tightened if it was not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def private_file(path: Path) -> None:
    """Make `path` (a database) a file only its owner reads: mode 0600 (SQLite gives its
    -wal and -shm files the same), in a folder of mode 0700 when we make it."""
    if str(path) == ":memory:":
        return
    if not path.parent.exists():
        # exist_ok: another process (a second dashboard started with this one) made it
        # meanwhile, and neither may fail for it.
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def settings_path() -> Path:
    """The dashboard's own choices (its theme), apart from config.toml's profiles, which
    may hold secrets and are written only when the user asks."""
    return Path(platformdirs.user_config_dir("smb-tui")) / "settings.toml"

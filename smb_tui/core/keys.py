"""The local server's API key: what `smb-tui local` signs tokens with, and what the
`local` profile reads to talk to it. Here, below both, so that reading the key never
loads the server (its web framework, V8 workers or statechart library)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from smb_tui.paths import write_private_file


@dataclass(frozen=True)
class LocalKey:
    """The local server's one API key. Its secret never appears in a repr."""

    key_id: str
    secret: str = field(repr=False)

    @classmethod
    def generate(cls) -> LocalKey:
        # Never starting with "-", which a command line would take for an option
        # (`--secret -x…`: "expected one argument"; one secret in 64 did).
        secret = "-"
        while secret.startswith("-"):
            secret = secrets.token_urlsafe(32)
        return cls(f"sbk_{secrets.token_hex(12)}", secret)


def load_or_create_key(path: Path) -> LocalKey:
    """The key kept at `path`, made (and written 0600) the first time."""
    if path.exists():
        data = json.loads(path.read_text())
        return LocalKey(data["keyId"], data["secret"])
    key = LocalKey.generate()
    write_private_file(path, json.dumps({"keyId": key.key_id, "secret": key.secret}))
    return key

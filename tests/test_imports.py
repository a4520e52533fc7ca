"""The dashboard loads only what it runs: no local server code, whatever its config."""

from __future__ import annotations

import subprocess
import sys


def test_the_dashboard_does_not_load_the_local_server() -> None:
    probe = (
        "import sys, smb_tui.tui.app, smb_tui.config, smb_tui.cli;"
        "print(sorted({m.split('.')[0] if not m.startswith('smb_tui') else m"
        " for m in sys.modules}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("smb_tui.local", "statemachine", "fastapi", "uvicorn", "py_mini_racer"):
        assert f"'{heavy}" not in loaded, heavy

"""The dashboard loads only what it runs: no local server code, whatever its config."""

from __future__ import annotations

import subprocess
import sys


def printed_by(probe: str) -> str:
    """What `python -c probe` prints, in a fresh interpreter (nothing loaded before)."""
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout


def test_the_dashboard_does_not_load_the_local_server() -> None:
    probe = (
        "import sys, smb_tui.tui.app, smb_tui.config, smb_tui.cli;"
        "print(sorted({m.split('.')[0] if not m.startswith('smb_tui') else m"
        " for m in sys.modules}))"
    )
    loaded = printed_by(probe)
    for heavy in ("smb_tui.local", "statemachine", "fastapi", "uvicorn", "py_mini_racer"):
        assert f"'{heavy}" not in loaded, heavy


def test_the_dialogs_and_the_demo_server_load_when_first_used() -> None:
    """On the way to the first paint: no dialog (they load when one opens), and starting
    the demo reaches only the light options module (the server loads in its own
    process)."""
    probe = (
        "import sys, smb_tui.tui.app, smb_tui.tui.demo;"
        "import smb_tui.local.options, smb_tui.api.wire;"
        "print(sorted(m for m in sys.modules if m.startswith('smb_tui')))"
    )
    loaded = printed_by(probe)
    assert "'smb_tui.tui.screens.modals'" not in loaded
    assert "'smb_tui.local.definitions'" not in loaded  # the package's names load lazily
    assert "'smb_tui.local.server'" not in loaded


def test_the_wire_format_does_not_load_the_client() -> None:
    """The local server imports `smb_tui.api.wire`: that must not bring in the client,
    httpx and websockets (the package's names load when first used)."""
    probe = "import sys, smb_tui.api.wire; print(sorted(sys.modules))"
    loaded = printed_by(probe)
    for heavy in ("smb_tui.api.client", "httpx", "websockets"):
        assert f"'{heavy}'" not in loaded, heavy


def test_token_signing_and_realtime_load_when_first_used() -> None:
    """PyJWT (with its crypto) and websockets are needed after the first paint: the first
    request's token, the first instance opened. Loaded before it, they delayed it."""
    probe = "import sys, smb_tui.tui.app; print(sorted(sys.modules))"
    loaded = printed_by(probe)
    for heavy in ("jwt", "websockets"):
        assert f"'{heavy}'" not in loaded, heavy


def test_the_client_and_its_models_load_after_the_first_frame() -> None:
    """httpx, httpcore, pydantic and the models are a third of the dashboard's imports:
    it draws its first frame without them, then makes its client (which loads them)."""
    probe = "import sys, smb_tui.tui.app, smb_tui.cli; print(sorted(sys.modules))"
    loaded = printed_by(probe)
    for heavy in ("smb_tui.api.client", "smb_tui.api.models", "httpx", "httpcore", "pydantic"):
        assert f"'{heavy}'" not in loaded, heavy


def test_the_logs_pane_loads_its_log_when_first_shown() -> None:
    """Textual's RichLog loads rich.pretty, and with it attrs where installed (10-15 ms):
    the logs pane makes its log when first shown, not on the way to the first frame."""
    probe = "import sys, smb_tui.tui.app; print(sorted(sys.modules))"
    loaded = printed_by(probe)
    for heavy in ("textual.widgets._rich_log", "rich.pretty", "attr"):
        assert f"'{heavy}'" not in loaded, heavy


def test_the_client_loads_httpx_without_its_command_line() -> None:
    """httpx imports its command-line client (click, pygments) when click is installed,
    as uvicorn installs it: 20-40 ms of the dashboard's way to its machines. The client
    holds it out, and leaves it importable for anyone who asks afterwards."""
    probe = (
        "import sys, smb_tui.api.client, httpx;"
        "print('httpx._main' in sys.modules, 'click' in sys.modules, callable(httpx.main));"
        "import httpx._main; print(httpx._main.__name__)"
    )
    out = printed_by(probe).split()
    assert out == ["False", "False", "True", "httpx._main"]

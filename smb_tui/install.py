"""What this installation holds. A lean one (`pip install --no-deps smb-tui`, then `pip
install -r requirements/dashboard.txt`, for an on-call bastion) runs the dashboard and the commands
that call an API, without the local server's packages (V8 alone is 81 MB of 128); what
needs them says which to install, instead of failing on an import."""

from __future__ import annotations

from importlib.util import find_spec

# The local server's packages: module -> distribution.
SERVER_PACKAGES = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "multipart": "python-multipart",
    "statemachine": "python-statemachine",
    "py_mini_racer": "mini-racer",
    "cryptography": "cryptography",
}


def server_missing() -> list[str]:
    """The local server's distributions this installation lacks."""
    return [dist for module, dist in SERVER_PACKAGES.items() if find_spec(module) is None]


def server_needed(what: str) -> str | None:
    """Why `what` cannot run here, or None when it can."""
    missing = server_missing()
    if not missing:
        return None
    return (
        f"{what} runs the local server, whose packages this installation leaves out"
        f" ({', '.join(missing)}): install them with `pip install {' '.join(missing)}`,"
        " or install smb-tui whole (`pip install smb-tui`, without --no-deps)"
    )

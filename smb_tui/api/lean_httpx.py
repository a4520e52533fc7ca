"""httpx, loaded without its command-line client.

`import httpx` also imports `httpx._main`, its command-line client, whenever click is
installed (uvicorn installs it): click, pygments and rich's progress bars, 20-40 ms of
the 0.2 s the dashboard spends loading its client between its first frame and its
machines. Nothing here runs that command line, so its module is held out while httpx
loads: httpx catches the ImportError and defines `httpx.main` as the message it prints
without click. Once httpx is loaded, `httpx._main` imports as usual for anyone who asks.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable"
    try:
        import httpx
    finally:
        if "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]
else:
    import httpx

__all__ = ["httpx"]

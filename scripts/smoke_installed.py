"""Does an installed smb-tui work, as a user starts it? Runs `smb-tui --version`, then
`smb-tui demo` in a terminal (a pty, 120x40) until its machines, instances and an
instance's history are on screen, then quits it with q. Standard library only: it runs with whatever
Python the installation under test has, from outside the source tree.

    python scripts/smoke_installed.py PATH/TO/bin/smb-tui [DASHBOARD FLAGS...]

With flags, it runs the dashboard with them (`--api-url URL --key-id ...`) instead of
the demo, with `--machine ticket --instance ticket-101` added: a server with the demo's
machines must be there (a lean installation has no demo of its own).

Exit status 0 when all of it worked; otherwise it says what did not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def main() -> int:
    command = sys.argv[1]
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    if version.returncode != 0 or not version.stdout.startswith("smb-tui "):
        print(f"smoke: `smb-tui --version` said {version.stdout!r} {version.stderr!r}")
        return 1
    print(f"smoke: {version.stdout.strip()}")
    home = tempfile.mkdtemp(prefix="smb-smoke-")
    environment = {
        **os.environ,
        "TERM": "xterm-256color",
        "HOME": home,
        "XDG_DATA_HOME": f"{home}/data",
        "XDG_CONFIG_HOME": f"{home}/config",
        "XDG_CACHE_HOME": f"{home}/cache",
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, in the terminal
        start = sys.argv[2:] or ["demo"]
        os.execvpe(
            command,
            [command, *start, "--machine", "ticket", "--instance", "ticket-101"],
            environment,
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = b""
    # A machine listed, an instance of ticket listed, and that instance's history read
    # from the server (its creation row) and its state drawn.
    wanted = [b"checkout", b"ticket-102", b"xstate.init"]
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and not all(w in ANSI.sub(b"", screen) for w in wanted):
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    break
        seen = ANSI.sub(b"", screen)
        missing = [w.decode() for w in wanted if w not in seen]
        if missing:
            print(f"smoke: the dashboard did not show {missing} in 90 s")
            if os.environ.get("SMOKE_SCREEN"):  # what was on screen, for a person to read
                Path(os.environ["SMOKE_SCREEN"]).write_bytes(seen)
            return 1
        print("smoke: the dashboard listed machines and instances, and showed a history")
        os.write(fd, b"q")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                print(f"smoke: q quit the dashboard (exit status {code})")
                return 0 if code == 0 else 1
            select.select([fd], [], [], 0.2)
            with contextlib.suppress(OSError):
                os.read(fd, 65536)
        print("smoke: the dashboard did not quit on q in 30 s")
        return 1
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


if __name__ == "__main__":
    sys.exit(main())

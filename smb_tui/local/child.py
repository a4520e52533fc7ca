"""The demo's server as a process of its own, beside the dashboard that started it.

    python -m smb_tui.local.child FD DB LOG_FILE KEY_PATH

Serves on the listening socket it inherits as FD (made by the dashboard before this
process started, so requests wait in its backlog meanwhile). Its own process, not a
thread of the dashboard's: its start-up, its seeding and every event it runs take no
turn from the dashboard's UI thread. Says "serving" and "seeded" on stdout; a reason on
stderr and status 1 if it cannot start; stops when its stdin closes (the dashboard
ended, however it ended) or on SIGTERM. No secret on its command line: the key is read
from KEY_PATH (mode 0600).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
import threading
from pathlib import Path


def main(argv: list[str]) -> int:
    fd, db, log_file, key_path = argv
    gc.disable()  # until it serves (`set_start_up_aside`)
    from smb_tui.local.server import LocalServer, ServerOptions, set_start_up_aside

    options = ServerOptions(
        db=Path(db),
        log_file=Path(log_file),
        key_path=Path(key_path),
        sock=socket.socket(fileno=int(fd)),
    )
    try:
        server = LocalServer(options)
    except Exception as error:
        print(error, file=sys.stderr, flush=True)
        return 1

    def say_when(event: threading.Event, what: str) -> None:
        event.wait()
        if what == "serving":
            set_start_up_aside()
        if server.base_url or what == "seeded":
            print(what, flush=True)

    def stop_when_orphaned() -> None:
        # Until EOF: the dashboard's end of the pipe closed. The raw descriptor, not
        # sys.stdin: a daemon thread blocked in a buffered read aborts the interpreter's
        # exit ("could not acquire lock ... at interpreter shutdown").
        while os.read(0, 4096):
            pass
        server.stop()
        deadline = threading.Timer(10, os._exit, (0,))  # not stopped in time: end anyway
        deadline.daemon = True
        deadline.start()

    threading.Thread(target=say_when, args=(server.started, "serving"), daemon=True).start()
    threading.Thread(target=say_when, args=(server.seeded, "seeded"), daemon=True).start()
    threading.Thread(target=stop_when_orphaned, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        asyncio.run(server.serve())
    except Exception as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

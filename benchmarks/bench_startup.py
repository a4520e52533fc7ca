"""Start-up, as a user sees it: the time from launching a command in a terminal (a pty,
120x40) to a text appearing on its screen. Each case runs in a fresh process, several
times; prints the median and the range, next to the least Textual app (one Static) as
the reference. Two cases: `smb-tui demo` (its server starting beside it, on the same two
cores) and the dashboard alone against a server already running, as on call.

    python benchmarks/bench_startup.py [--runs 5]

Also the import of the dashboard's module next to `textual.app` alone (fresh
interpreters, the two and a bare interpreter in turn, medians of 15 rounds or --runs).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import free_port, wait_for_demo_seeding, wait_listening

from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token

LEAST_APP = """
from textual.app import App
from textual.widgets import Static

class Least(App):
    def compose(self):
        yield Static("least-app-painted")

Least().run()
"""


def until_shown(
    argv: list[str], needles: list[bytes], env: dict[str, str], timeout: float = 30
) -> list[float | None]:
    """Seconds from launch to each needle first seen in the terminal's output."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, in the pty
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen: list[float | None] = [None] * len(needles)
    output = b""
    try:
        while None in seen and time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if not ready:
                continue
            try:
                output += os.read(fd, 1 << 16)
            except OSError:
                break
            now = time.perf_counter() - started
            for n, needle in enumerate(needles):
                if seen[n] is None and needle in output:
                    seen[n] = now
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return seen


def summary(figures: list[float | None]) -> str:
    got = [f for f in figures if f is not None]
    if not got:
        return "never"
    missing = f", {len(figures) - len(got)} never" if len(got) < len(figures) else ""
    return f"{statistics.median(got):.2f} s (runs {min(got):.2f}-{max(got):.2f}{missing})"


@contextmanager
def running_server(home: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """`smb-tui local` with the demo machines on a free port, serving: yields the
    dashboard's arguments to reach it (its key's secret in a file, mode 0600)."""
    key, port = LocalKey.generate(), free_port()
    secret = home / "secret"
    secret.touch(mode=0o600)
    secret.write_text(key.secret)
    server = subprocess.Popen(
        [sys.executable, "-m", "smb_tui", "local", "--port", str(port), "--db",
         str(home / "running.db"), "--key-id", key.key_id, f"--secret-file={secret}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port)
        token = sign_key_token(key, {"sub": "bench"})
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {token}"}
        ) as http:
            wait_for_demo_seeding(http)  # not on the other core while the dashboard starts
        yield [
            "--api-url", f"http://127.0.0.1:{port}", "--key-id", key.key_id,
            f"--secret-file={secret}", "--no-cache",
        ]  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)


IMPORTED = ("textual.app", "smb_tui.tui.app", "sys")
IMPORT_ROUNDS = 15  # a round is under a second: more than --runs, for a steadier ratio


def import_times(rounds: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Each round imports textual.app, the dashboard's module and nothing (the
    interpreter's own start) in fresh processes, one after the other, so that the
    machine's mood of the moment weighs on the three alike (run one module's imports
    after another's, the ratio moved 1.34-1.68 in an hour on the same code)."""
    taken: dict[str, list[float]] = {module: [] for module in IMPORTED}
    for round_ in range(rounds):
        # Each first, second and third in turn: the one after another's run came out up
        # to a tenth faster or slower (the ratio 1.25-1.42 with one order or the other).
        turn = round_ % len(IMPORTED)
        for module in IMPORTED[turn:] + IMPORTED[:turn]:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
            taken[module].append(time.perf_counter() - started)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="smb-startup-"))
    env = dict(os.environ, TERM="xterm-256color", HOME=str(home))
    env.pop("NO_COLOR", None)
    # As users run it: compiled modules cached (this machine's environment turns that
    # off, which made every import compile its source again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-c", "import smb_tui.tui.app, smb_tui.local.server"], env=env, check=True
    )
    smb_tui = shutil.which("smb-tui", path=str(Path(sys.executable).parent)) or "smb-tui"
    try:
        least = [
            until_shown([sys.executable, "-c", LEAST_APP], [b"least-app-painted"], env)[0]
            for _ in range(args.runs)
        ]
        print(f"least Textual app, painted:               {summary(least)}")
        # The first run makes the demo's database (its seeding is in the background).
        runs = [
            until_shown([smb_tui, "demo"], [b"Machines", b"traffic-light"], env)
            for _ in range(args.runs + 1)
        ]
        print(
            "smb-tui demo, first run (new database):   "
            f"frame {summary([runs[0][0]])}, machines {summary([runs[0][1]])}"
        )
        print(f"smb-tui demo, dashboard painted:          {summary([r[0] for r in runs[1:]])}")
        print(f"smb-tui demo, machines listed:            {summary([r[1] for r in runs[1:]])}")
        # As on call: the dashboard alone, against a server already running (here a
        # local one, in a process of its own), so that its own start is what is timed.
        with running_server(home, env) as argv:
            runs = [
                until_shown([smb_tui, *argv], [b"Machines", b"traffic-light"], env)
                for _ in range(args.runs)
            ]
        print(f"smb-tui on a running server, painted:     {summary([r[0] for r in runs])}")
        print(f"smb-tui on a running server, machines:    {summary([r[1] for r in runs])}")
        rounds = max(IMPORT_ROUNDS, args.runs)
        taken = import_times(rounds, env)
        bare, ours, python = (statistics.median(taken[module]) for module in IMPORTED)
        ratios = sorted(
            (mine - start) / (theirs - start)
            for theirs, mine, start in zip(*(taken[module] for module in IMPORTED), strict=True)
        )
        print(
            f"import smb_tui.tui.app {ours - python:.2f} s vs textual.app {bare - python:.2f} s"
            f" ({statistics.median(ratios):.2f}x, round by round {ratios[0]:.2f}-{ratios[-1]:.2f},"
            f" medians of {rounds}; the interpreter's own start, {python:.2f} s, taken off"
            " both)"
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

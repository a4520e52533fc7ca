"""Benchmark the XState engine's worker processes next to the in-process engine they replace.

    python benchmarks/bench_xstate.py [--seconds 5] [--rounds 3] [--baseline 1d03380]

In one run, each configuration in its own server process (`smb-tui local`), loaded from this
process: events/s for one instance (one sender) and for 8 instances (8 senders), for the
worker pool (this tree) and for the in-process V8 engine of `--baseline` (a git revision,
checked out into a temporary folder), in alternating rounds; then the time from a worker's
death to the next answered event (one worker killed, and all of them), and memory per
loaded version. The event is the demo ticket's `comment` (one `assign`), its authorizers
taken out. Prints figures; asserts nothing. Needs git for the baseline (`--baseline ''`
skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port

from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.demo import DEMO_MODULES
from smb_tui.local.engines.xstate_module import EXPORTS
from smb_tui.local.engines.xstate_pool import WorkerPool

ROOT = Path(__file__).resolve().parents[1]


def unguarded_ticket(folder: Path) -> Path:
    """The demo ticket without allowRead/allowWrite: one `assign` an event, nothing else."""
    bundle = (DEMO_MODULES / "ticket.js").read_text()
    exports = EXPORTS.search(bundle)
    assert exports is not None
    kept = [
        name
        for name in exports.group(1).split(",")
        if not name.strip().endswith(("allowRead", "allowWrite"))
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tally.js").write_text(f"{bundle[: exports.start()]}export{{{','.join(kept)}}};\n")
    return folder


class Server:
    """`smb-tui local` from `tree` (None: this one) in a process of its own."""

    def __init__(
        self,
        tree: Path | None,
        machines: Path,
        tmp: Path,
        demo: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """`env`: more environment for the server's process."""
        self.key = LocalKey.generate()
        port = free_port()
        env = {**os.environ, **(env or {})}
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        arguments = ["local", "--machines", str(machines), "--port", str(port)]
        if not demo:
            arguments.append("--no-demo")
        arguments += ["--db", str(tmp / f"{port}.db"), "--key-id", self.key.key_id]
        arguments += [f"--secret={self.key.secret}"]
        code = "import sys; from smb_tui.cli import main; sys.exit(main(sys.argv[1:]))"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *arguments],
            env=env,
            cwd=tree or ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base_url = f"http://127.0.0.1:{port}"
        token = sign_key_token(self.key, {"sub": "bench"})
        self.headers = {"authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base_url}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)

    def workers(self) -> list[int]:
        """The server's child processes (its machine workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def load(server: Server, instances: int, seconds: float, prefix: str) -> float:
    """Events/s with one sender per instance, each sending as soon as it has its answer."""
    context = {"public": {"title": "bench", "comments": 0}}
    limits = httpx.Limits(max_connections=instances + 2)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers, timeout=60, limits=limits
    ) as http:
        slugs = [f"{prefix}-{i}" for i in range(instances)]
        for slug in slugs:
            answer = await http.post("/machines/tally", json={"slug": slug, "context": context})
            answer.raise_for_status()
        done = 0
        stop = time.perf_counter() + seconds

        async def sender(slug: str) -> None:
            nonlocal done
            path = f"/machines/tally/i/{slug}/events"
            while time.perf_counter() < stop:
                (await http.post(path, json={"event": "comment"})).raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender(slug) for slug in slugs))
        return done / (time.perf_counter() - started)


def recovery(server: Server, kill_all: bool) -> float:
    """Seconds from SIGKILL of one worker (or all) to the next event answered 200."""
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as http:
        slug = f"recover-{time.monotonic_ns()}"
        http.post("/machines/tally", json={"slug": slug}).raise_for_status()
        path = f"/machines/tally/i/{slug}/events"
        http.post(path, json={"event": "comment"}).raise_for_status()
        victims = server.workers() if kill_all else server.workers()[:1]
        killed = time.perf_counter()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        while http.post(path, json={"event": "comment"}).status_code != 200:
            pass
        seconds = time.perf_counter() - killed
        time.sleep(2)  # the pool back to full strength before the next measure
        return seconds


def checkout(revision: str, into: Path) -> Path:
    """`revision`'s tree, exported into `into` (git archive: no work tree is touched)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="per measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="1d03380", help="git revision ('' to skip)")
    parser.add_argument("--versions", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        machines = unguarded_ticket(tmp / "machines")
        trees: dict[str, Path | None] = {"worker pool (this tree)": None}
        if args.baseline:
            old = checkout(args.baseline, tmp / "baseline")
            trees[f"in-process V8 ({args.baseline})"] = old
        figures: dict[str, dict[str, list[float]]] = {name: {"1": [], "8": []} for name in trees}
        for round_ in range(args.rounds):
            for name, tree in trees.items():
                server = Server(tree, machines, tmp)
                try:
                    asyncio.run(load(server, 1, 1.0, f"warm{round_}"))
                    one = asyncio.run(load(server, 1, args.seconds, f"one{round_}"))
                    eight = asyncio.run(load(server, 8, args.seconds, f"eight{round_}"))
                finally:
                    server.stop()
                figures[name]["1"].append(one)
                figures[name]["8"].append(eight)
        print(
            f"events/s of one assign (ticket `comment`), medians of {args.rounds} rounds of"
            f" {args.seconds:g} s, each server in its own process, load from another:"
        )
        print(f"  {'':34} {'1 instance':>11} {'8 instances':>12}  8 vs 1")
        for name, by in figures.items():
            one, eight = statistics.median(by["1"]), statistics.median(by["8"])
            print(f"  {name:34} {one:11.0f} {eight:12.0f}  {eight / one:5.2f}x")
        if len(figures) == 2:
            new, old = (statistics.median(by["1"]) for by in figures.values())
            print(f"  one instance, pool vs in-process: {new / old:.2f}x")

        server = Server(None, machines, tmp)
        try:
            one = [recovery(server, kill_all=False) for _ in range(3)]
            every = [recovery(server, kill_all=True) for _ in range(3)]
        finally:
            server.stop()
        print("from a worker's death (SIGKILL) to the next event answered 200:")
        print(f"  one worker of the pool:  {statistics.median(one) * 1000:6.0f} ms (median of 3)")
        print(f"  every worker:            {statistics.median(every) * 1000:6.0f} ms (median of 3)")

    source = (DEMO_MODULES / "ticket.js").read_text()
    pool = WorkerPool(size=1)
    try:
        pool.load(source)
        [worker] = pool.workers
        before = rss_kb(worker.pid)
        for _ in range(args.versions):
            pool.load(source)
        per_version = (rss_kb(worker.pid) - before) / args.versions
    finally:
        pool.close()
    print(
        f"memory per loaded version ({len(source) // 1024} KB bundle, {args.versions} loaded,"
        f" an isolate each): {per_version / 1024:.1f} MB of the worker's RSS"
    )


if __name__ == "__main__":
    main()

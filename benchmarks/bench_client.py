"""Benchmark the client: paging through 10,000 and 100,000 transitions, and `smb-tui
export history` of the same, next to it (target: within 1.5x of the paging); and, with
node and npm present, our client's paging against State Backed's official JavaScript
client on the same rows of the same server (medians of 5; target: at most 1.0).

    python benchmarks/bench_client.py

Prints figures; asserts nothing. Runs `smb-tui local` in a process of its own, so that
neither client shares its process with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import fill_history, instance_id, wait_for_demo_seeding

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_xstate import Server  # the server, in a process of its own

from smb_tui import export
from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.local.auth import sign_key_token

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = ROOT / ".build" / "statebacked-client"  # where the tests install it
RUNS = 5


async def page_through(client: StateBackedClient, slug: str) -> tuple[int, int, float]:
    started = time.perf_counter()
    pages = items = 0
    async for page in client.transition_pages("counter", slug):
        pages += 1
        items += len(page.items)
    return pages, items, time.perf_counter() - started


def official_client() -> Path | None:
    """A folder with @statebacked/client installed (as the tests install it), or None."""
    if (OFFICIAL / "node_modules" / "@statebacked" / "client").is_dir():
        return OFFICIAL
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    OFFICIAL.mkdir(parents=True, exist_ok=True)
    npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-save"]
    installed = subprocess.run(
        [*npm, "@statebacked/client@0.1.37"], cwd=OFFICIAL, capture_output=True, check=False
    )
    return OFFICIAL if installed.returncode == 0 else None


class OfficialPaging:
    """The official client in a node process of its own, paging `slug` once per `run()`."""

    def __init__(self, folder: Path, server: Server, slug: str) -> None:
        script = folder / "official_paging.mjs"  # beside node_modules, where node finds it
        shutil.copyfile(Path(__file__).parent / "official_paging.mjs", script)
        token = sign_key_token(server.key, {"sub": "bench"})
        self.process = subprocess.Popen(
            ["node", str(script), server.base_url, token, "counter", slug],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        seconds: float = json.loads(self.process.stdout.readline())["seconds"]
        return seconds

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    (folder / "none").mkdir()  # no machines of our own: the demo's counter
    server = Server(None, folder / "none", folder, demo=True)
    db = folder / f"{server.base_url.rsplit(':', 1)[1]}.db"
    node = official_client()
    try:
        with httpx.Client(base_url=server.base_url, headers=server.headers) as http:
            wait_for_demo_seeding(http)
        credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "bench"})
        async with StateBackedClient(credentials, server.base_url) as client:
            for size in (10_000, 100_000):
                slug = f"history-{size}"
                await client.create_instance("counter", slug)
                fill_history(db, instance_id(db, "counter", slug), size - 1)
                # The two clients' runs alternate, each warm (one run first, not counted),
                # so that a machine busier for a while slows both alike.
                official = OfficialPaging(node, server, slug) if node is not None else None
                runs, theirs = [], []
                try:
                    await page_through(client, slug)
                    if official is not None:
                        official.run()
                    for _ in range(RUNS):
                        runs.append(await page_through(client, slug))
                        if official is not None:
                            theirs.append(official.run())
                finally:
                    if official is not None:
                        official.close()
                pages, items, _ = runs[0]
                seconds = statistics.median(run[2] for run in runs)
                print(
                    f"{items:,} transitions in {pages:,} pages: {seconds:.2f} s (median of "
                    f"{RUNS}), {pages / seconds:,.0f} pages/s, {items / seconds:,.0f} "
                    "transitions/s"
                )
                if theirs:
                    paired = sorted(run[2] / their for run, their in zip(runs, theirs, strict=True))
                    print(
                        f"  the official client (node) pages them in "
                        f"{statistics.median(theirs):.2f} s: ours takes "
                        f"{seconds / statistics.median(theirs):.2f}x its time, run by run "
                        f"{paired[0]:.2f}-{paired[-1]:.2f}x (target at most 1.0)"
                    )
                else:
                    print("  the official client: not measured (node and npm are needed)")
                for fmt, oldest_first in (("jsonl", False), ("csv", False), ("jsonl", True)):
                    target = folder / f"{slug}.{fmt}"
                    started = time.perf_counter()
                    with export.atomic_file(target) as out:
                        writer = export.Writer(out, fmt, export.HISTORY_COLUMNS)
                        count = await export.export(
                            export.history(client, "counter", slug, oldest_first), writer
                        )
                    took = time.perf_counter() - started
                    order = ", oldest first" if oldest_first else ""
                    print(
                        f"  export {count:,} as {fmt}{order}: {took:.2f} s, {took / seconds:.2f}x"
                        " the paging (target within 1.5x)"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, not a run
    asyncio.run(main())

"""Benchmark the client: paging through 10,000 and 100,000 transitions, and `smb-tui
export history` of the same, next to it (target: within 1.5x of the paging).

    python benchmarks/bench_client.py

Prints figures; asserts nothing. Runs a local server on a free port of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from common import fill_history, instance_id

from smb_tui import export
from smb_tui.api import KeyCredentials, StateBackedClient
from smb_tui.core.keys import LocalKey
from smb_tui.local.server import ServerOptions, ServerThread


async def page_through(client: StateBackedClient, slug: str) -> tuple[int, int, float]:
    started = time.perf_counter()
    pages = items = 0
    async for page in client.transition_pages("counter", slug):
        pages += 1
        items += len(page.items)
    return pages, items, time.perf_counter() - started


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="smb-bench-"))
    key = LocalKey.generate()
    options = ServerOptions(db=folder / "bench.db", key=key, busy_history=10, port=0)
    with ServerThread(options) as server:
        credentials = KeyCredentials(key.key_id, key.secret, {"sub": "bench"})
        async with StateBackedClient(credentials, server.base_url) as client:
            for size in (10_000, 100_000):
                slug = f"history-{size}"
                await client.create_instance("counter", slug)
                fill_history(options.db, instance_id(options.db, "counter", slug), size - 1)
                pages, items, seconds = await page_through(client, slug)
                print(
                    f"{items:,} transitions in {pages:,} pages: {seconds:.2f} s, "
                    f"{pages / seconds:,.0f} pages/s, {items / seconds:,.0f} transitions/s"
                )
                for fmt in ("jsonl", "csv"):
                    target = folder / f"{slug}.{fmt}"
                    started = time.perf_counter()
                    with export.atomic_file(target) as out:
                        writer = export.Writer(out, fmt, export.HISTORY_COLUMNS)
                        count = await export.export(
                            export.history(client, "counter", slug, False), writer
                        )
                    took = time.perf_counter() - started
                    print(
                        f"  export {count:,} as {fmt}: {took:.2f} s, {took / seconds:.2f}x the"
                        " paging (target within 1.5x)"
                    )


if __name__ == "__main__":
    asyncio.run(main())

"""Work over the rows held, done off the UI thread when they are many, so that the keys
go on meanwhile (rows are read only: a thread may read them while the screen runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Rows worked over on the UI thread at once (the state map of 20,000: ~30 ms); past
# them, on a thread (a million: 1.2-1.5 s that were all the keys').
ROWS_AT_ONCE = 20_000


async def made_apart(
    rows: int, make: Callable[[], T], going: Callable[[], None] | None = None
) -> T:
    """`make()`, on a thread past ROWS_AT_ONCE `rows` (after `going()`, to say so)."""
    if rows <= ROWS_AT_ONCE:
        return make()
    if going is not None:
        going()
    return await asyncio.to_thread(make)

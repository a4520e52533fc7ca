"""The local server's one clock: the time it stamps on transitions, states and logs, the
time machine code reads, and the time its delayed transitions fall due by. Injected
(`ServerOptions.clock`), so that tests and screenshots hold time still or move it on
(`ManualClock`) instead of sleeping through a timer.

Tokens are the exception: their `iat` and `exp` were written by other processes with the
wall clock, and are checked against it (`smb_tui.local.auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time


class Clock:
    """The system's time."""

    def __call__(self) -> float:
        return time.time()

    async def sleep_until(self, moment: float | None, wake: asyncio.Event) -> None:
        """Return once this clock reads `moment` or later (None: never), or `wake` is set;
        the caller looks again at what is due either way."""
        timeout = None if moment is None else max(0.0, moment - self())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


class ManualClock(Clock):
    """Time that stands still until `advance` or `set` moves it (from any thread); a
    server sleeping until a moment wakes when the clock passes it."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._lock = threading.Lock()
        self._sleepers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: float) -> None:
        with self._lock:
            self.now = moment
            sleepers = list(self._sleepers)
        for loop, moved in sleepers:
            with contextlib.suppress(RuntimeError):  # a loop that has closed
                loop.call_soon_threadsafe(moved.set)

    def advance(self, seconds: float) -> None:
        self.set(self.now + seconds)

    async def sleep_until(self, moment: float | None, wake: asyncio.Event) -> None:
        moved = asyncio.Event()
        sleeper = (asyncio.get_running_loop(), moved)
        with self._lock:
            self._sleepers.add(sleeper)
        try:
            while moment is None or self.now < moment:
                if wake.is_set():
                    return
                waiting = [asyncio.ensure_future(e.wait()) for e in (wake, moved)]
                try:
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waiting:
                        task.cancel()
                moved.clear()
        finally:
            with self._lock:
                self._sleepers.discard(sleeper)

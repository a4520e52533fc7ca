"""Events to one instance, one at a time: a lock per instance, kept only while in use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class InstanceLocks:
    """A lock for each instance someone holds or waits for. Kept for every slug ever
    named, they grew without bound (80,000 refused creates: +33 MB): an instance's lock
    goes with its last user, and `len()` says how many instances have one now."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, machine: str, slug: str) -> AsyncIterator[None]:
        key = (machine, slug)
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

"""Delayed transitions: fired when they fall due by the server's one clock, with no
client connected; one that fails is tried again `retry` seconds later, five times in
all (as State Backed tries them, about 30 s apart), then dropped. Each fires in a task
of its own (up to `MAX_FIRING` at once), so that one whose machine then runs a service
for seconds holds up no other instance's; one instance's take its lock in the order
they fall due, and so run in that order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from smb_tui.local.definitions import JSON
from smb_tui.local.errors import ApiError
from smb_tui.local.store import Store

log = logging.getLogger(__name__)
TIMER_MAX_TRIES = 5
MAX_FIRING = 64  # delayed events running at once; more wait for one of them to end
# What fires a timer: the instance's machine and slug, its event, the timer's id.
Fire = Callable[[str, str, dict[str, JSON], int], Awaitable[None]]


class Scheduler:
    """The loop that fires the store's timers as they fall due."""

    def __init__(self, store: Store, fire: Fire, retry: float) -> None:
        self.store = store
        self.fire = fire
        self.retry = retry
        self._wake = asyncio.Event()
        self._firing: dict[int, asyncio.Task[None]] = {}  # by timer id

    def wake(self) -> None:
        """Timers were added, or one fired: look again at which is due first."""
        self._wake.set()

    async def run(self) -> None:
        """Fire delayed transitions when they fall due, until cancelled."""
        try:
            while True:
                # The first timer not firing already (those firing come first by time).
                timers = self.store.next_timers(len(self._firing) + 1)
                timer = next((t for t in timers if t.id not in self._firing), None)
                if timer is None or timer.fire_at > self.store.clock():
                    self._wake.clear()
                    due = None if timer is None else timer.fire_at
                    await self.store.clock.sleep_until(due, self._wake)
                    continue
                if len(self._firing) >= MAX_FIRING:
                    self._wake.clear()
                    await self._wake.wait()  # one of them ended
                    continue
                task = asyncio.create_task(self._fire(timer.id))
                self._firing[timer.id] = task
                task.add_done_callback(partial(self._fired, timer.id))
        finally:
            for task in self._firing.values():
                task.cancel()
            if self._firing:
                await asyncio.wait(self._firing.values())

    def _fired(self, timer_id: int, _: asyncio.Task[None]) -> None:
        self._firing.pop(timer_id, None)
        self.wake()

    async def _fire(self, timer_id: int) -> None:
        timer = self.store.timer(timer_id)
        if timer is None:
            return
        row = self.store.get_instance_by_id(timer.instance_id)
        if row is None:
            return
        try:
            await self.fire(row.machine, row.slug, fired_event(timer.event), timer_id)
            if self.store.timer(timer_id) is not None:
                # Fired, though nothing was stored (an instance that is done takes no
                # more events): spent all the same. Otherwise the loop fires it forever.
                with self.store.transaction() as db:
                    self.store.delete_timer(db, timer_id)
        except Exception as error:
            # Whatever went wrong, the timer loop goes on: the other instances' timers
            # are not this one's hostages.
            where = (timer.event, row.machine, row.slug)
            if isinstance(error, ApiError):
                log.warning("delayed %s on %s/%s failed: %s", *where, error.error)
            else:
                log.exception("delayed %s on %s/%s raised", *where)
            if self.store.timer(timer_id) is not None:
                if timer.tries + 1 >= TIMER_MAX_TRIES:
                    with self.store.transaction() as db:
                        self.store.delete_timer(db, timer_id)
                else:
                    self.store.postpone_timer(timer_id, self.store.clock() + self.retry)


def timer_event(event: dict[str, JSON]) -> str:
    """How the timers table keeps an event: its type when that is all it has (the
    column predates event payloads), else its JSON."""
    return str(event["type"]) if set(event) == {"type"} else json.dumps(event)


def fired_event(stored: str) -> dict[str, JSON]:
    if stored.startswith("{"):
        event = json.loads(stored)
        if isinstance(event, dict):
            return event
    return {"type": stored}

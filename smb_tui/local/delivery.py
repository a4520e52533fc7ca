"""Events between instances, as State Backed delivers them: what a stored run spawned
(`spawnPersistentInstance`) and sent (`@statebacked/machine`'s `sendTo`, or `sendParent`
from a spawned instance), delivered after that run, in order, as the sending instance.

Durable: the service writes them to the store's outbox in the run's own transaction, and
the deliverer takes them from there, deleting each once it is delivered (or given up
on); a server that stopped with some left delivers them when it starts again. At least
once: one delivered just before a crash, and not yet deleted, is delivered again.

In order to each receiver (a spawn, then the events sent to what it spawned), receivers
side by side (up to MAX_RECEIVERS at once): one whose machine runs a service a while
holds up no other instance's events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from smb_tui.local.auth import SENDER_CLAIM, Principal
from smb_tui.local.definitions import JSON
from smb_tui.local.engines.seam import Message, Spawn
from smb_tui.local.errors import ApiError
from smb_tui.local.store import OutboxRow, Store

log = logging.getLogger(__name__)

DELIVERY_TRIES = 5  # an event between instances, as State Backed retries one
# Instances that answer each other's events would pass events between them for ever; a
# chain of events between instances (each delivered because of the one before) is cut
# at this many, with the reason in the logs of the instance that sent the last.
MAX_HOPS = 100
MAX_RECEIVERS = 64  # instances being delivered to at once; the others wait their turn


class Instances(Protocol):
    """What the deliverer asks of the service."""

    async def create_instance(
        self,
        principal: Principal,
        machine: str,
        slug: str,
        context: dict[str, JSON],
        version_id: str | None,
        parent: dict[str, str] | None = None,
    ) -> Any: ...

    async def send_event(
        self, principal: Principal, machine: str, slug: str, event: dict[str, JSON]
    ) -> Any: ...

    def instance_exists(self, machine: str, slug: str) -> bool: ...


def outbox_items(
    spawns: list[Spawn], sends: list[Message], hops: int = 1
) -> list[tuple[str, dict[str, JSON]]]:
    """A run's spawns (first: a send may name an instance spawned in the same run) and
    sends, in its order, as the store's outbox keeps them; `hops`: the chain's length
    once each is delivered (1: sent by a run a client's event started)."""
    return [("spawn", {**dataclasses.asdict(s), "hops": hops}) for s in spawns] + [
        ("send", {**dataclasses.asdict(m), "hops": hops}) for m in sends
    ]


class Deliverer:
    """Delivers the store's outbox, in order to each receiver; `undelivered(sender, text)`
    is told what could not be delivered, to say in the sender's logs."""

    def __init__(
        self,
        instances: Instances,
        store: Store,
        undelivered: Callable[[dict[str, str], str], None],
    ) -> None:
        self.instances = instances
        self.store = store
        self.undelivered = undelivered
        self._delivering: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._read_up_to = 0  # the newest outbox row taken into a queue
        self._queues: dict[tuple[str, str], deque[OutboxRow]] = {}  # by receiver
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}  # receivers served now

    def wake(self) -> None:
        """Something was added to the outbox (or the server started): deliver it."""
        self._wake.set()
        if self._delivering is None or self._delivering.done():
            self._delivering = asyncio.create_task(self._deliver_all())

    async def _deliver_all(self) -> None:
        """Take new rows into their receivers' queues, serve each receiver with a queue,
        until none is left."""
        while True:
            self._wake.clear()
            for row in self.store.outbox_after(self._read_up_to):
                self._read_up_to = row.id
                self._queues.setdefault(_receiver(row), deque()).append(row)
            for receiver in self._queues:
                if receiver not in self._busy and len(self._busy) < MAX_RECEIVERS:
                    task = asyncio.create_task(self._deliver_to(receiver))
                    self._busy[receiver] = task
            if not self._busy:
                return
            await self._wake.wait()  # rows added, or a receiver's queue ran out

    async def _deliver_to(self, receiver: tuple[str, str]) -> None:
        queue = self._queues[receiver]
        try:
            while queue:
                row = queue.popleft()
                try:
                    body = dict(row.body)
                    hops = int(body.pop("hops", 1))  # rows written before hops were counted: 1
                    item = Spawn(**body) if row.kind == "spawn" else Message(**body)
                    await self._deliver(row.sender, item, hops)
                except Exception:  # one message must not end the deliverer
                    log.exception("delivering outbox item %s failed", row.id)
                self.store.delete_outbox(row.id)
        finally:
            if not queue:
                del self._queues[receiver]
            del self._busy[receiver]
            self._wake.set()

    async def _deliver(self, sender: dict[str, str], item: Spawn | Message, hops: int) -> None:
        """As the sending instance (the receiver's authorizers see
        `{stateBackedSender: {machineName, machineInstanceName}}`), to an instance made if
        missing, tried again (DELIVERY_TRIES in all) when the receiver fails, and never
        when its allowWrite says no; not past MAX_HOPS."""
        principal = Principal({SENDER_CLAIM: dict(sender)}, frozenset(), hops=hops)
        instances = self.instances
        target = f"{item.machine}/{item.instance}"
        if hops > MAX_HOPS:
            what = (
                f"spawning {target}"
                if isinstance(item, Spawn)
                else (f"the event {str(item.event.get('type'))!r} to {target}")
            )
            self.undelivered(
                sender,
                f"smb-tui local: {what} was not delivered: it would be event {hops} of a chain"
                f" of events between instances, each sent because of the one before (a loop?);"
                f" smb-tui local stops such chains at {MAX_HOPS}",
            )
            return
        if isinstance(item, Spawn):
            try:
                await instances.create_instance(
                    principal,
                    item.machine,
                    item.instance,
                    item.context or {},
                    item.version_id,
                    parent=sender,
                )
            except ApiError as error:
                if error.status != 409:  # 409: it exists, as asked (an invocation entered again)
                    self._say(sender, f"spawning {target}", error)
            return
        what = f"the event {str(item.event.get('type'))!r} to {target}"
        for attempt in range(1, DELIVERY_TRIES + 1):
            try:
                if not instances.instance_exists(item.machine, item.instance):
                    try:
                        await instances.create_instance(
                            principal, item.machine, item.instance, {}, None
                        )
                    except ApiError as error:
                        if error.status != 409:  # 409: made meanwhile; deliver to it
                            raise
                await instances.send_event(principal, item.machine, item.instance, item.event)
                return
            except ApiError as error:
                if error.status < 500 or attempt == DELIVERY_TRIES:
                    self._say(sender, what, error)
                    return

    def _say(self, sender: dict[str, str], what: str, error: ApiError) -> None:
        text = f"smb-tui local: {what} was not delivered: {error.error} ({error.code})"
        self.undelivered(sender, text)


def _receiver(row: OutboxRow) -> tuple[str, str]:
    """The instance a row goes to (spawns it, or gets its event); a row that names none
    (not one this server wrote) is a receiver of its own."""
    body = row.body if isinstance(row.body, dict) else {}
    machine, instance = body.get("machine"), body.get("instance")
    if isinstance(machine, str) and isinstance(instance, str):
        return machine, instance
    return "", f"row {row.id}"

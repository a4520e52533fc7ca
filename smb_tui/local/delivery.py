"""Events between instances, as State Backed delivers them: what a stored run spawned
(`spawnPersistentInstance`) and sent (`@statebacked/machine`'s `sendTo`, or `sendParent`
from a spawned instance), delivered after that run, in order, as the sending instance.

Held in memory: a crash of the server between a run's commit and the delivery loses what
was not delivered yet (State Backed's delivery is durable; see the README's differences).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from smb_tui.local.auth import SENDER_CLAIM, Principal
from smb_tui.local.definitions import JSON
from smb_tui.local.engines.seam import Message, Spawn
from smb_tui.local.errors import ApiError

log = logging.getLogger(__name__)

DELIVERY_TRIES = 5  # an event between instances, as State Backed retries one


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


class Deliverer:
    """One queue for the whole server: spawns and sends in the order their runs were
    stored; `undelivered(sender, text)` is told what could not be delivered, to say in
    the sender's logs."""

    def __init__(
        self, instances: Instances, undelivered: Callable[[dict[str, str], str], None]
    ) -> None:
        self.instances = instances
        self.undelivered = undelivered
        self._outbox: deque[tuple[dict[str, str], Spawn | Message]] = deque()
        self._delivering: asyncio.Task[None] | None = None

    def post(
        self, machine: str, slug: str, spawns: Sequence[Spawn], sends: Sequence[Message]
    ) -> None:
        """What a stored run spawned and sent: spawns first (a send may name an instance
        spawned in the same run), then sends, each in the run's order, after everything
        posted before them."""
        if not spawns and not sends:
            return
        sender = {"machineName": machine, "machineInstanceName": slug}
        self._outbox.extend((sender, spawn) for spawn in spawns)
        self._outbox.extend((sender, message) for message in sends)
        if self._delivering is None or self._delivering.done():
            self._delivering = asyncio.create_task(self._deliver_all())

    async def _deliver_all(self) -> None:
        while self._outbox:
            sender, item = self._outbox.popleft()
            try:
                await self._deliver(sender, item)
            except Exception:  # one message must not end the deliverer
                log.exception("delivering %r from %r failed", item, sender)

    async def _deliver(self, sender: dict[str, str], item: Spawn | Message) -> None:
        """As the sending instance (the receiver's authorizers see
        `{stateBackedSender: {machineName, machineInstanceName}}`), to an instance made if
        missing, tried again (DELIVERY_TRIES in all) when the receiver fails, and never
        when its allowWrite says no."""
        principal = Principal({SENDER_CLAIM: dict(sender)}, frozenset())
        instances = self.instances
        target = f"{item.machine}/{item.instance}"
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

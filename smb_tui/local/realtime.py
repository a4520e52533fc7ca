"""Realtime: one WebSocket session (`/rt`), its subscriptions and what it has yet to
send, as State Backed's realtime protocol has them."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from smb_tui.local.auth import Principal
from smb_tui.local.definitions import JSON
from smb_tui.local.service import ApiError, LocalService


class Outbox:
    """What a realtime connection has yet to send. Realtime delivers the latest state,
    so pending updates of one instance collapse to the newest: a subscriber that stops
    reading costs one update per subscription, not one per event. Other messages
    (answers to the client's own) are bounded; past the bound the client is not reading
    and is disconnected."""

    def __init__(self, limit: int = 256) -> None:
        self._updates: dict[tuple[str, str], dict[str, JSON]] = {}
        self._others: deque[dict[str, JSON]] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self.overflowed = False

    def put(self, message: dict[str, JSON]) -> None:
        if message.get("type") == "instance-update":
            key = (str(message.get("machineName")), str(message.get("machineInstanceName")))
            self._updates.pop(key, None)
            self._updates[key] = message
        elif len(self._others) >= self._limit:
            self.overflowed = True
        else:
            self._others.append(message)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._updates) + len(self._others)

    async def get(self) -> dict[str, JSON]:
        while not self:
            self._ready.clear()
            await self._ready.wait()
        if self._others:
            return self._others.popleft()
        return self._updates.pop(next(iter(self._updates)))


async def realtime_session(
    websocket: WebSocket, service: LocalService, principal: Principal
) -> None:
    outbox = Outbox()
    subscriptions: dict[tuple[str, str], Callable[[dict[str, JSON]], None]] = {}

    async def send_all() -> None:
        while True:
            await websocket.send_json(await outbox.get())

    sender = asyncio.create_task(send_all())

    async def subscribe(message: dict[str, Any]) -> None:
        machine, instance = message.get("machineName"), message.get("machineInstanceName")
        if not isinstance(machine, str) or not isinstance(instance, str):
            raise ApiError(
                400, "machineName and machineInstanceName are required", "invalid-parameter"
            )
        state = await service.read_instance(principal, machine, instance)
        request_id = message.get("requestId")

        def deliver(update: dict[str, JSON]) -> None:
            if update.get("type") == "error":  # allowRead refused: the subscription ends
                subscriptions.pop((machine, instance), None)
                update = {**update, "requestId": request_id}
            outbox.put(update)

        if (machine, instance) not in subscriptions:
            subscriptions[(machine, instance)] = deliver
            service.subscribe(machine, instance, deliver, principal)
        outbox.put(
            {
                "type": "instance-update",
                "machineName": machine,
                "machineInstanceName": instance,
                **state,
            }
        )

    async def unsubscribe(message: dict[str, Any]) -> None:
        key = (message.get("machineName"), message.get("machineInstanceName"))
        subscriber = subscriptions.pop(key, None)  # type: ignore[arg-type]
        if subscriber is not None:
            service.unsubscribe(key[0], key[1], subscriber)  # type: ignore[arg-type]

    async def ping(message: dict[str, Any]) -> None:
        outbox.put({"type": "pong"})

    handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
        "subscribe-to-instance": subscribe,
        "unsubscribe-from-instance": unsubscribe,
        "ping": ping,
    }
    try:
        while True:
            try:
                message = json.loads(await websocket.receive_text())
            except ValueError:
                outbox.put(
                    {
                        "type": "error",
                        "status": 400,
                        "code": "invalid-parameter",
                        "error": "messages must be JSON",
                    }
                )
                continue
            if not isinstance(message, dict):
                continue
            handler = handlers.get(str(message.get("type")))
            if handler is None:
                outbox.put(
                    {
                        "type": "error",
                        "requestId": message.get("requestId"),
                        "status": 400,
                        "code": "invalid-parameter",
                        "error": f"unknown message type {message.get('type')!r}",
                    }
                )
                continue
            if outbox.overflowed:
                await websocket.close(1008, "the client does not read what it asked for")
                return
            try:
                await handler(message)
            except ApiError as error:
                outbox.put(
                    {
                        "type": "error",
                        "requestId": message.get("requestId"),
                        "status": error.status,
                        "code": error.code,
                        "error": error.error,
                    }
                )
    except WebSocketDisconnect:
        pass
    finally:
        for (machine, instance), subscriber in subscriptions.items():
            service.unsubscribe(machine, instance, subscriber)
        sender.cancel()


async def refused_session(websocket: WebSocket, refusal: ApiError) -> None:
    """A connection whose token was refused: the refusal is said at once, and again to
    each subscription under its `requestId`, and the connection stays open until the
    client closes it. Closed by the server, State Backed's official client reconnected at
    once, for ever (773 connections in 2 s), and reported nothing: it reports an error only
    when one names its subscription's `requestId`."""
    said: dict[str, JSON] = {
        "type": "error",
        "status": refusal.status,
        "code": refusal.code,
        "error": refusal.error,
    }
    try:
        await websocket.send_json(said)
        while True:
            try:
                message = json.loads(await websocket.receive_text())
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "subscribe-to-instance":
                request_id = message.get("requestId")
                await websocket.send_json({**said, "requestId": request_id})
    except WebSocketDisconnect:
        pass

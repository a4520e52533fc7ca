"""Realtime through the client: updates after a send, and across a server restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smb_tui.api import (
    InstanceUpdate,
    KeyCredentials,
    NotFound,
    Reconnected,
    StateBackedClient,
)
from smb_tui.core.keys import LocalKey
from smb_tui.local.server import ServerThread
from tests.conftest import free_port, start_server, unique


async def test_an_update_arrives_after_a_send(server: ServerThread) -> None:
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "demo-user"})
    async with StateBackedClient(credentials, server.base_url) as client:
        slug = unique("rt")
        await client.create_instance("counter", slug)
        updates = client.subscribe("counter", slug)
        first = await asyncio.wait_for(anext(updates), 5)
        assert isinstance(first, InstanceUpdate) and first.state == "counting"
        await client.send_event("counter", slug, {"type": "increment", "by": 5})
        update = await asyncio.wait_for(anext(updates), 5)
        assert isinstance(update, InstanceUpdate)
        assert update.public_context == {"count": 5}
        assert update.machine_instance_name == slug
        await updates.aclose()


async def test_subscribing_to_a_missing_instance_raises(server: ServerThread) -> None:
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "demo-user"})
    async with StateBackedClient(credentials, server.base_url) as client:
        with pytest.raises(NotFound):
            await asyncio.wait_for(anext(client.subscribe("counter", "ghost")), 5)


async def test_reconnects_and_says_so_after_the_server_restarts(tmp_path: Path) -> None:
    key, port = LocalKey.generate(), free_port()
    options = {"demo": False, "key": key, "port": port}
    first = await asyncio.to_thread(start_server, tmp_path, **options)
    credentials = KeyCredentials(key.key_id, key.secret, {"sub": "demo-user"})
    async with StateBackedClient(credentials, first.base_url) as client:
        await client.create_instance("scratch", "watched")
        updates = client.subscribe("scratch", "watched", max_backoff=0.5)
        assert isinstance(await asyncio.wait_for(anext(updates), 5), InstanceUpdate)
        await asyncio.to_thread(first.stop)
        second = await asyncio.to_thread(start_server, tmp_path, **options)
        try:
            received = await asyncio.wait_for(anext(updates), 20)
            assert isinstance(received, Reconnected)
            # Our server sends the current state on subscribe; then the new event.
            assert isinstance(await asyncio.wait_for(anext(updates), 5), InstanceUpdate)
            await client.send_event(
                "scratch", "watched", {"type": "put", "key": "after", "value": True}
            )
            update = await asyncio.wait_for(anext(updates), 5)
            assert isinstance(update, InstanceUpdate)
            assert update.public_context == {"after": True}
        finally:
            await updates.aclose()
            await asyncio.to_thread(second.stop)


async def test_pings_keep_the_connection_alive() -> None:
    import json

    import websockets

    received: list[dict[str, object]] = []

    async def record(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            received.append(json.loads(message))

    async with websockets.serve(record, "127.0.0.1", 0) as listener:
        port = listener.sockets[0].getsockname()[1]
        client = StateBackedClient(
            KeyCredentials("sbk_x", "s" * 32, {"sub": "x"}), f"http://127.0.0.1:{port}"
        )
        updates = client.subscribe("m", "i", ping_interval=0.1)
        waiting = asyncio.ensure_future(anext(updates))
        await asyncio.sleep(0.45)
        waiting.cancel()
        await client.aclose()
    assert received[0]["type"] == "subscribe-to-instance"
    assert [m["type"] for m in received[1:]].count("ping") >= 3


async def test_a_quiet_live_connection_stays_up_past_the_idle_time_out(tmp_path: Path) -> None:
    """The server closes idle HTTP connections after --idle-timeout; a realtime socket is
    kept by its pings (State Backed asks for one at least every 5 minutes), and the
    client pings well within any idle limit."""
    key = LocalKey.generate()
    options = {"demo": False, "key": key, "idle_timeout": 1.0}
    server = await asyncio.to_thread(start_server, tmp_path, **options)
    statuses: list[str] = []
    try:
        credentials = KeyCredentials(key.key_id, key.secret, {"sub": "demo-user"})
        async with StateBackedClient(credentials, server.base_url) as client:
            await client.create_instance("scratch", "quiet")
            updates = client.subscribe("scratch", "quiet", on_status=statuses.append)
            assert isinstance(await asyncio.wait_for(anext(updates), 5), InstanceUpdate)
            with pytest.raises(TimeoutError):  # nothing happens for 4 idle time-outs...
                await asyncio.wait_for(anext(updates), 4)
            assert statuses == ["live"]  # ...and the socket never dropped
            await updates.aclose()
    finally:
        await asyncio.to_thread(server.stop)

"""`smb-tui local --machines DIR --watch`: an edited module is the next event's code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from smb_tui.api import StateBackedClient
from smb_tui.api.auth import KeyCredentials
from smb_tui.api.errors import NotFound
from smb_tui.local.server import ServerThread
from tests.conftest import client, start_server
from tests.deploy.bundles import BROKEN, LAMP_V1, LAMP_V2

# Version 1 with a different step: a flip counts ten.
LAMP_V1_BY_TEN = LAMP_V1.replace("flips:x.public.flips+1", "flips:x.public.flips+10")


def write(path: Path, code: str) -> None:
    """Write and move the mtime on, as an editor's save does (some file systems keep
    one-second times: two saves in a second must still look different)."""
    path.write_text(code)
    stamp = time.time_ns() + 2_000_000_000
    os.utime(path, ns=(stamp, stamp))


async def versions_of(api: StateBackedClient, machine: str, count: int) -> list[str]:
    """The machine's version labels, once it has `count` (the watcher polls)."""
    labels: list[str] = []
    for _ in range(100):
        with contextlib.suppress(NotFound):  # a new machine: not there yet
            labels = [str(v.client_info) async for v in api.versions(machine)]
        if len(labels) >= count:
            return labels
        await asyncio.sleep(0.1)
    pytest.fail(f"{machine} never had {count} versions: {labels}")


async def test_an_edited_module_runs_the_next_event_and_a_broken_one_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    machines = tmp_path / "machines"
    machines.mkdir()
    lamp = machines / "lamp.js"
    write(lamp, LAMP_V1)
    server = start_server(tmp_path, demo=False, machines_dir=machines, watch=True)
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "author"})
    try:
        async with StateBackedClient(credentials, server.base_url) as api:
            await api.create_instance("lamp", "desk")
            assert (await api.send_event("lamp", "desk", "flip")).public_context == {"flips": 1}

            write(lamp, LAMP_V1_BY_TEN)
            assert await versions_of(api, "lamp", 2) == ["v2", "v1"]
            current = (await api.get_machine("lamp")).current_version
            assert current is not None and current.client_info == "v2"
            after = await api.send_event("lamp", "desk", "flip")  # moves to v2, then flips
            assert after.state == "off" and after.public_context == {"flips": 11}
            admin = await api.get_instance_admin("lamp", "desk")
            assert admin.machine_version.id == current.id

            write(lamp, BROKEN)  # reported, ignored: the machine stays at v2
            await asyncio.sleep(1.5)
            assert len(await versions_of(api, "lamp", 2)) == 2
            assert "does not load" in caplog.text and "stays at version v2" in caplog.text
            assert (await api.send_event("lamp", "desk", "flip")).public_context == {"flips": 21}

            # Version 2's states are others: the instance's state is gone, so it stays.
            write(lamp, LAMP_V2)
            assert await versions_of(api, "lamp", 3) == ["v3", "v2", "v1"]
            stays = await api.send_event("lamp", "desk", "flip")
            assert stays.state == "off" and stays.public_context == {"flips": 31}
            admin = await api.get_instance_admin("lamp", "desk")
            assert admin.machine_version.id == current.id and admin.desired_machine_version is None
            with client(server) as http:
                logs = http.get("/logs", params={"from": "2000-01-01T00:00:00Z", "machine": "lamp"})
                logs = logs.json()["logs"]
            assert any("stays at its version" in line["log"] for line in logs)
            assert (await api.create_instance("lamp", "new")).state == "dark"  # v3 for new ones
    finally:
        server.stop()

    # A restart (without --watch) still runs the instances that moved to a watched version.
    again = start_server(tmp_path, demo=False, machines_dir=machines, key=server.key)
    try:
        async with StateBackedClient(credentials, again.base_url) as api:
            assert (await api.send_event("lamp", "desk", "flip")).public_context == {"flips": 41}
            assert (await api.send_event("lamp", "new", "flip")).state == {"lit": "bright"}
    finally:
        again.stop()


async def test_a_new_module_in_the_folder_is_a_new_machine(tmp_path: Path) -> None:
    machines = tmp_path / "machines"
    machines.mkdir()
    server: ServerThread = start_server(tmp_path, demo=False, machines_dir=machines, watch=True)
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "author"})
    try:
        async with StateBackedClient(credentials, server.base_url) as api:
            write(machines / "porch.js", LAMP_V1)
            assert await versions_of(api, "porch", 1) == ["v1"]
            assert (await api.create_instance("porch", "light")).state == "off"
    finally:
        server.stop()

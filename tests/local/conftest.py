"""Fixtures for the local server's tests: the XState test machines, built as smply builds
them, and a server that runs them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from smb_tui.local.server import ServerThread
from smb_tui.local.xstate_build import BuildUnavailable, build_tree
from tests.conftest import npm_folder, start_server

SOURCES = Path(__file__).parent.parent / "xstate"
BUILD_CACHE = Path(__file__).parent.parent.parent / ".build" / "xstate"
OFFICIAL_CLIENT = ["@statebacked/client@0.1.37"]  # undici (its WebSocket) comes with it
NODE_CACHE = Path(__file__).parent.parent.parent / ".build" / "statebacked-client"


def run_official(script: str, **env: str) -> dict[str, object]:
    """Run `script` (a .mjs file beside this one) with State Backed's official client from
    npm (skipped without node and npm); what it printed last, as JSON."""
    folder = npm_folder(NODE_CACHE, OFFICIAL_CLIENT, "@statebacked/client", "the official client")
    path = folder / script  # beside node_modules, where node finds the packages
    shutil.copyfile(Path(__file__).parent / script, path)
    ran = subprocess.run(
        ["node", "--no-warnings", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    printed: dict[str, object] = json.loads(ran.stdout.strip().splitlines()[-1])
    return printed


@pytest.fixture(scope="session")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test machines as bundles, built by esbuild with smply's flags (the first run
    installs the pinned xstate and esbuild with npm)."""
    out = tmp_path_factory.mktemp("machines")
    try:
        build_tree(SOURCES, out, BUILD_CACHE)
    except BuildUnavailable as error:
        pytest.skip(str(error))
    (out / "broken.js").write_text("const x = ;\nexport{x as default};\n")
    return out


@pytest.fixture(scope="session")
def xserver(modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A server with the XState test machines only (settle time-out 1 s)."""
    with start_server(tmp_path_factory.mktemp("xstate"), machines_dir=modules, demo=False) as s:
        yield s


async def subscribe(
    connection: websockets.ClientConnection, machine: str, instance: str, request_id: str
) -> None:
    await connection.send(
        json.dumps(
            {
                "type": "subscribe-to-instance",
                "requestId": request_id,
                "machineName": machine,
                "machineInstanceName": instance,
            }
        )
    )


async def next_message(connection: websockets.ClientConnection) -> dict[str, object]:
    message: dict[str, object] = json.loads(await asyncio.wait_for(connection.recv(), 5))
    return message

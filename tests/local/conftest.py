"""Fixtures for the local server's tests: the XState test machines, built as smply builds
them, and a server that runs them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from smb_tui.local.server import ServerThread
from smb_tui.local.xstate_build import BuildUnavailable, build_tree
from tests.conftest import start_server

SOURCES = Path(__file__).parent.parent / "xstate"
BUILD_CACHE = Path(__file__).parent.parent.parent / ".build" / "xstate"


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

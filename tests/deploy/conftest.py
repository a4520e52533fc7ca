"""Fixtures for the deploy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smb_tui.local.server import ServerThread
from tests.conftest import start_server


@pytest.fixture(scope="module")
def deploy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A server with no machines of its own: everything on it was deployed."""
    with start_server(tmp_path_factory.mktemp("deploy"), demo=False, machines_dir=None) as s:
        yield s

"""The pytest plugin smb-tui installs (entry point `pytest11`): the fixture
`statebacked_local`, a local State Backed server of each test's own, on a free port of
127.0.0.1, with its database in the test's temporary folder and the machines of the
folder named by the ini option `statebacked_machines` (relative to the ini file), or by
the marker `@pytest.mark.statebacked_local(machines=..., demo=False, watch=False)`.
It yields a `smb_tui.testing.LocalStateBacked`: `base_url`, `key_id`, `secret`,
`token()`, `client()`, `http()`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smb_tui.testing import LocalStateBacked, start_local


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "statebacked_machines",
        "the folder of machines the statebacked_local fixture loads (XState modules)",
        type="paths",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "statebacked_local(machines=None, demo=False, **options): how the statebacked_local"
        " fixture's server is started",
    )


@pytest.fixture
def statebacked_local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalStateBacked]:
    """A local State Backed server of this test's own (see `smb_tui.testing`)."""
    marker = request.node.get_closest_marker("statebacked_local")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if "machines" not in options:
        folders = request.config.getini("statebacked_machines")
        options["machines"] = folders[0] if folders else None
    options.setdefault("db", tmp_path / "statebacked-local.db")
    with start_local(**options) as local:
        yield local

"""Options that commands share, checked the same way wherever they appear."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from smb_tui import cli
from tests.conftest import start_server


@pytest.mark.parametrize("command", ["local", "serve"])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_that_is_not_one_is_refused_before_anything_starts(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main([command, "--port", port])
    assert refused.value.code == 2
    assert f"{port!r} is not a port (0 to 65535)" in capsys.readouterr().err


def test_a_port_in_use_is_said_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn logged the bind error, then the process ended in a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["local", "--no-demo", "--port", str(port), "--db", str(tmp_path / "d")])
    assert code == 1
    err = capsys.readouterr().err
    assert err == (
        f"smb-tui local: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (another smb-tui local? --port picks another)\n"
    )


def test_an_ipv6_server_s_url_has_its_address_in_brackets(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with start_server(tmp_path, demo=False, machines_dir=None, host="::1") as server:
        assert server.base_url.startswith("http://[::1]:")
        assert httpx.get(f"{server.base_url}/openapi.json").status_code == 200

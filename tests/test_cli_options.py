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


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (
            ["local", "--no-demo", "--db", "{tmp}/d.db"],
            "another smb-tui local? --port picks another",
        ),
        (["serve", "--api-url", "http://127.0.0.1:9", "--token", "t"], "--port picks another"),
    ],
)
def test_a_port_in_use_is_said_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], hint: str
) -> None:
    """Each printed its server's bind error and then a traceback (serve: after showing a
    URL and token for a port that was not its own)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main([c.format(tmp=tmp_path) for c in command] + ["--port", str(port)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no URL, no token
    name = command[0]
    assert captured.err == (
        f"smb-tui {name}: cannot listen on 127.0.0.1:{port}: Address already in use ({hint})\n"
    )


def test_a_host_name_whose_port_is_in_use_is_said_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name (not an address) is bound by uvicorn itself, which logs the error and calls
    sys.exit from its task: the loop stopped mid-way and a traceback followed."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = ["local", "--no-demo", "--host", "localhost", "--port", str(port)]
        code = cli.main([*command, "--db", str(tmp_path / "d.db")])
    assert code == 1
    err = capsys.readouterr().err
    assert f"smb-tui local: cannot serve on localhost:{port}" in err
    assert "Traceback" not in err


def test_an_ipv6_server_s_url_has_its_address_in_brackets(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with start_server(tmp_path, demo=False, machines_dir=None, host="::1") as server:
        assert server.base_url.startswith("http://[::1]:")
        assert httpx.get(f"{server.base_url}/openapi.json").status_code == 200


def test_output_cut_short_by_the_reader_is_no_error() -> None:
    """`smb-tui help keys | head -1` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    main = "import sys; from smb_tui.cli import main; sys.exit(main())"
    argv = " ".join([sys.executable, "-c", repr(main), "help", "keys"])
    done = subprocess.run(
        ["bash", "-c", f"{argv} | head -c 1 > /dev/null; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr

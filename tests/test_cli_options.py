"""Options that commands share, checked the same way wherever they appear."""

from __future__ import annotations

import pytest

from smb_tui import cli


@pytest.mark.parametrize("command", ["local", "serve"])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_that_is_not_one_is_refused_before_anything_starts(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main([command, "--port", port])
    assert refused.value.code == 2
    assert f"{port!r} is not a port (0 to 65535)" in capsys.readouterr().err

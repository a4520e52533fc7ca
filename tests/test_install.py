"""A lean installation (requirements/dashboard.txt) stays in step with pyproject.toml, and
what needs the local server's packages says which to install (CI's install check runs
one for real: .ci/install_check)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from smb_tui import install
from smb_tui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def requirements(lines: list[str]) -> dict[str, Requirement]:
    found = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {requirement.name.lower(): requirement for requirement in found}


def test_the_lean_list_is_pyprojects_less_the_servers_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    whole = requirements(project["project"]["dependencies"])
    lean = requirements((ROOT / "requirements" / "dashboard.txt").read_text().splitlines())
    for name, requirement in lean.items():
        assert name in whole, f"{name} is in the lean list, not in pyproject.toml"
        assert requirement.specifier == whole[name].specifier, name
    server = {dist.lower() for dist in install.SERVER_PACKAGES.values()}
    # Every dependency is the dashboard's or the server's: a new one must be placed.
    assert set(whole) - set(lean) <= server, set(whole) - set(lean) - server
    assert not set(lean) & server


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["local"],
        ["replay", "--history", "h.jsonl", "--bundle", "b.js"],
        ["chart", "m", "--bundle", "b.js"],
    ],
)
def test_what_needs_the_server_says_what_to_install(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = install.find_spec
    monkeypatch.setattr(
        install,
        "find_spec",
        lambda name: None if name in ("fastapi", "py_mini_racer") else real(name),
    )
    assert main(command) == 2
    said = capsys.readouterr().err
    assert f"smb-tui {command[0]} runs the local server" in said
    assert "pip install fastapi mini-racer" in said


def test_a_whole_installation_lacks_nothing() -> None:
    assert install.server_missing() == []

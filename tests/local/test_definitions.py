"""User machine definitions: the README's example loads and runs as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smb_tui.local.definitions import load_definitions
from tests.conftest import client, start_server

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("### Your own machines") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its example definition"
    return match.group(1)


def test_the_readme_example_definition_works(tmp_path: Path) -> None:
    machines = tmp_path / "machines"
    machines.mkdir()
    (machines / "door.py").write_text(readme_example())
    [door] = load_definitions(machines)
    assert door.slug == "door"
    server = start_server(tmp_path, demo=False, machines_dir=machines)
    with server, client(server, "ann") as ann, client(server, "bob") as bob:
        created = ann.post("/machines/door", json={"slug": "front", "context": {"owner": "ann"}})
        assert created.json()["state"] == "closed"
        wrong_key = ann.post(
            "/machines/door/i/front/events", json={"event": {"type": "opening", "key": "0000"}}
        )
        assert wrong_key.json()["state"] == "closed"
        opened = ann.post(
            "/machines/door/i/front/events", json={"event": {"type": "opening", "key": "1234"}}
        )
        assert opened.json()["state"] == "open"
        assert opened.json()["tags"] == ["open"]
        assert opened.json()["publicContext"] == {"opened": 1}
        refused = bob.post("/machines/door/i/front/events", json={"event": "closing"})
        assert refused.json()["code"] == "rejected-by-machine-authorizer"


def test_a_folder_with_a_broken_definition_says_which_file(tmp_path: Path) -> None:
    (tmp_path / "nothing.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match=r"nothing\.py defines no"):
        load_definitions(tmp_path)

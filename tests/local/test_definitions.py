"""User machine definitions: the documented example (docs/local-server.md) loads and runs
as it says."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from smb_tui.local.machines import load_definitions
from tests.conftest import client, start_server

README = Path(__file__).resolve().parents[2] / "docs" / "local-server.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("**Python machines**") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/local-server.md lost its example definition"
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


def test_a_broken_definition_is_named_and_skipped_and_the_others_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "nothing.py").write_text("x = 1\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('no \\x1b[2J today')\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "door.py").write_text(readme_example())
    with caplog.at_level(logging.ERROR):
        found = load_definitions(tmp_path)
    assert [definition.slug for definition in found] == ["door"]
    said = caplog.text
    assert "nothing.py defines no" in said and "raises.py" in said and "exits.py" in said
    assert "\x1b" not in said and "\\u001b[2J" in said  # the terminal is not driven


def test_start_up_messages_show_machine_text_safely(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A module's file name and its load error are somebody else's text."""
    (tmp_path / "title\x1b]0;owned\x07.js").write_text(
        "throw new Error('\\u001b]52;c;cGF5bG9hZA==\\u0007 clipboard');\nexport{x as default};\n"
    )
    with caplog.at_level(logging.ERROR):
        assert load_definitions(tmp_path) == []
    said = caplog.text
    assert "clipboard" in said and "title" in said
    assert "\x1b" not in said and "\x07" not in said
    assert "\\u001b]0;owned\\u0007" in said and "\\u001b]52" in said


MIGRATING = """
from statemachine import State, StateChart
from smb_tui.local import MachineDefinition, MachineVersion, Snapshot


class Lamp(StateChart):
    off = State(initial=True)
    on = State()
    switch = off.to(on) | on.to(off)


def migration(snapshot):
    return {returned}


machine = MachineDefinition(
    slug="lamp",
    versions=[MachineVersion("v1", Lamp), MachineVersion("v2", Lamp, migrate=migration)],
)
"""


@pytest.mark.parametrize(
    ("returned", "said"),
    [
        ('{"state": snapshot.state}', "it returned dict, not a Snapshot(state, context)"),
        ("Snapshot('off', {})", "state is not a list of state ids"),
        ("Snapshot(['off'], [])", "context is not a dict"),
        ("Snapshot(['off'], {}, {'h': {'on'}})", "history is not {history state id: [state ids]}"),
    ],
)
def test_a_migration_that_returns_no_snapshot_is_said_and_changes_nothing(
    tmp_path: Path, returned: str, said: str
) -> None:
    """It once reached the store and failed there: a 500 that said only 'the local server
    failed', with a traceback in the server's output."""
    machines = tmp_path / "machines"
    machines.mkdir()
    (machines / "lamp.py").write_text(MIGRATING.format(returned=returned))
    server = start_server(tmp_path, demo=False, machines_dir=machines)
    with server, client(server) as http:
        v2, v1 = (v["id"] for v in http.get("/machines/lamp/v").json()["versions"])
        http.post("/machines/lamp", json={"slug": "desk", "machineVersionId": v1})
        http.put("/machines/lamp/i/desk/v", json={"targetMachineVersionId": v2})
        refused = http.post("/machines/lamp/i/desk/events", json={"event": "switch"})
        assert refused.status_code == 500
        assert refused.json()["error"].startswith("the migration to version 'v2' failed: ")
        assert said in refused.json()["error"]
        admin = http.get("/machines/lamp/i/desk/admin").json()
        assert admin["state"] == "off" and admin["machineVersion"]["id"] == v1


def test_versions_are_found_by_id_in_a_machine_grown_one_version_at_a_time() -> None:
    """Ids are found once per definition (not hashed and searched for each event): one
    grown by --watch, and a version copied with another migration, still find theirs."""
    from statemachine import State, StateChart

    from smb_tui.local.definitions import MachineDefinition, MachineVersion

    class Lamp(StateChart):
        off = State(initial=True)
        on = State()
        switch = off.to(on) | on.to(off)

    definition = MachineDefinition("lamp", [MachineVersion("v1", Lamp)])
    for n in range(2, 300):
        version = MachineVersion(f"v{n}", Lamp, migrate=lambda snapshot: snapshot)
        definition = dataclasses.replace(definition, versions=[*definition.versions, version])
    ids = [definition.version_id(v) for v in definition.versions]
    assert len(set(ids)) == 299 and all(i.startswith("mv_") for i in ids)
    assert [definition.version_by_id(i) for i in ids] == list(definition.versions)
    assert definition.current.label == "v299"
    copied = dataclasses.replace(definition.versions[5], migrate=None)
    assert definition.version_id(copied) == ids[5]
    other = MachineDefinition("desk-lamp", list(definition.versions))
    assert other.version_id(definition.versions[0]) != ids[0]  # the id names the machine
    assert definition.version_by_id("mv_nothing") is None
    path = definition.migration_path(ids[0], ids[3])
    assert path is not None and [v.label for v in path] == ["v2", "v3", "v4"]

"""The `statebacked_local` fixture, used the way a project's own tests use it: in a
throwaway project folder with its own ini file and machines (pytester)."""

from __future__ import annotations

import pytest

from tests.deploy.bundles import KEEP_NAMES, LAMP_V1, LAMP_V2

# On when flipped, off by itself 8 s later.
NIGHTLIGHT = (
    KEEP_NAMES + 'import{createMachine as c}from"npm:xstate";'
    'var m=c({id:"nightlight",predictableActionArguments:!0,initial:"off",states:{'
    'off:{on:{flip:"on"}},on:{after:{8000:"off"},on:{flip:"off"}}}});'
    "export{m as default};"
)

PROJECT_TESTS = """
import time

import httpx
import pytest

from smb_tui.local.clock import ManualClock
from smb_tui.testing import start_local


def test_a_machine_of_the_folder_runs(statebacked_local):
    assert httpx.get(statebacked_local.base_url + "/health").status_code == 200
    with statebacked_local.http({"sub": "alice"}) as http:
        made = http.post("/machines/lamp", json={"slug": "desk"})
        assert made.status_code == 200, made.text
        assert made.json()["state"] == "off"
        flipped = http.post("/machines/lamp/i/desk/events", json={"event": "flip"})
        assert flipped.json()["state"] == "on"


async def test_the_typed_client(statebacked_local):
    async with statebacked_local.client({"sub": "bob"}) as api:
        assert (await api.create_instance("lamp", "desk")).state == "off"  # a fresh server


def test_two_servers_in_one_process(statebacked_local):
    with start_local("machines") as other:
        assert other.base_url != statebacked_local.base_url
        for local in (statebacked_local, other):
            with local.http() as http:
                made = http.post("/machines/lamp", json={"slug": "same"})
                assert made.status_code == 200, made.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(other.base_url + "/health")  # stopped when its block ended


@pytest.mark.statebacked_local(machines="timed", clock=ManualClock(1_780_000_000))
def test_a_delayed_transition_without_sleeping(statebacked_local):
    with statebacked_local.http() as http:
        http.post("/machines/nightlight", json={"slug": "hall"})
        assert http.post(
            "/machines/nightlight/i/hall/events", json={"event": "flip"}
        ).json()["state"] == "on"
        statebacked_local.clock.advance(7.9)
        assert http.get("/machines/nightlight/i/hall").json()["state"] == "on"
        statebacked_local.clock.advance(0.1)  # its after 8000 is due now
        deadline = time.monotonic() + 10
        while http.get("/machines/nightlight/i/hall").json()["state"] != "off":
            assert time.monotonic() < deadline
            time.sleep(0.01)


@pytest.mark.statebacked_local(machines="v2")
def test_the_marker_names_another_folder(statebacked_local):
    with statebacked_local.http() as http:
        assert http.post("/machines/lamp", json={"slug": "x"}).json()["state"] == "dark"
"""


def test_the_fixture_in_a_project_of_its_own(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nstatebacked_machines = machines\nasyncio_mode = auto\n")
    (pytester.path / "machines").mkdir()
    (pytester.path / "machines" / "lamp.js").write_text(LAMP_V1)
    (pytester.path / "v2").mkdir()
    (pytester.path / "v2" / "lamp.js").write_text(LAMP_V2)
    (pytester.path / "timed").mkdir()
    (pytester.path / "timed" / "nightlight.js").write_text(NIGHTLIGHT)
    pytester.makepyfile(test_machines=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=5)

"""The server knows machines only through the `Engine` interface: a second engine, with
its own snapshot JSON and its own timer keys, runs behind the same HTTP API. This is the
seam an XState engine plugs into."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smb_tui.local.clock import ManualClock
from smb_tui.local.definitions import AuthRequest, IndexSelector, MachineVersion, Snapshot
from smb_tui.local.engines.seam import Outcome, StateView, Step, Timer, ask_first
from tests.conftest import client, start_server

MACHINES = Path(__file__).parent.parent / "engine_machines"


class TallyEngine:
    """Counts: `add` adds one, a `tick` timer adds ten every 0.3 s until `stop`. Its state
    is a JSON object no python-statemachine code could read."""

    async def start(
        self,
        version: MachineVersion,
        context: dict[str, Any],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
    ) -> Outcome:
        await ask_first(self, version, check)
        snapshot = Snapshot({"n": 0, "engine": "tally"}, {**context, "public": {"n": 0}})
        return Outcome(
            steps=[Step({"type": "xstate.init"}, snapshot)],
            timers=[Timer("every-tick", {"type": f"tick#{machine}"}, 0.3)],
        )

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, Any]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,
    ) -> Outcome:
        await ask_first(self, version, check)
        outcome = Outcome()
        n = int(snapshot.state["n"])
        for event in events:
            kind = str(event["type"])
            if kind == "add":
                n += 1
            elif kind.startswith("tick#"):
                n += 10
                outcome.timers.append(Timer("every-tick", {"type": kind}, 0.3))
            elif kind == "stop":
                outcome.cancelled.append("every-tick")
            state = Snapshot({"n": n, "engine": "tally"}, {"public": {"n": n}})
            outcome.steps.append(Step(event, state))
        return outcome

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        n = int(snapshot.state["n"])
        return StateView("odd" if n % 2 else "even", ["big"] if n >= 10 else [], False)

    async def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        return request.type == "read" or request.auth_context.get("sub") == "tallier"

    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        return snapshot

    def index_values(
        self, version: MachineVersion, snapshot: Snapshot, indexes: Mapping[str, IndexSelector]
    ) -> dict[str, Any]:
        return {"parity": self.view(version, snapshot).value}


def test_another_engine_runs_behind_the_same_api_with_its_own_state_and_timers(
    tmp_path: Path,
) -> None:
    clock = ManualClock(1_780_000_000.0)  # moved by the test, never slept through
    engine = TallyEngine()
    with start_server(
        tmp_path, machines_dir=MACHINES, demo=False, engine=engine, clock=clock
    ) as server:
        with client(server, sub="tallier") as http:

            def count() -> int:
                return int(http.get("/machines/tally/i/t").json()["publicContext"]["n"])

            created = http.post("/machines/tally", json={"slug": "t"}).json()
            assert created["state"] == "even" and created["publicContext"] == {"n": 0}
            answer = http.post("/machines/tally/i/t/events", json={"event": "add"}).json()
            assert answer["state"] == "odd" and answer["publicContext"] == {"n": 1}
            for ticks in (1, 2):
                clock.advance(0.3)
                deadline = time.monotonic() + 10
                while count() < 1 + 10 * ticks:
                    assert time.monotonic() < deadline, f"the engine's tick {ticks} never came"
                    time.sleep(0.01)
            http.post("/machines/tally/i/t/events", json={"event": "stop"})
            stopped = count()
            # No tick after stop: the engine cancelled its timer. A marker instance's
            # tick, due with the one cancelled, has come once its count moves.
            http.post("/machines/tally", json={"slug": "marker"})
            clock.advance(0.3)
            deadline = time.monotonic() + 10
            while http.get("/machines/tally/i/marker").json()["publicContext"]["n"] < 10:
                assert time.monotonic() < deadline, "the marker's tick never came"
                time.sleep(0.01)
            assert count() == stopped
            events = [
                row["event"]["type"]
                for row in http.get("/machines/tally/i/t/events").json()["transitions"]
            ]
            assert events[0] == "stop" and "tick#tally" in events and events[-1] == "xstate.init"
            admin = http.get("/machines/tally/i/t/admin").json()
            assert "big" in admin["tags"]
            parity = "even" if admin["context"]["public"]["n"] % 2 == 0 else "odd"
            query = {"op": "eq", "value": parity}
            found = http.get("/machines/tally/indexes/parity/query", params=query).json()
            assert found["instances"] == [{"slug": "t", "indexValue": parity}]  # the engine's
        with client(server, sub="someone-else") as http:
            refused = http.post("/machines/tally/i/t/events", json={"event": "add"})
            assert refused.status_code == 403
            assert refused.json()["code"] == "rejected-by-machine-authorizer"

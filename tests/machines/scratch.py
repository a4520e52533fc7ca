"""Test machine: a context to write into, a slow service, and code that prints."""

import asyncio
import time
from typing import Any

from statemachine import State, StateChart

from smb_tui.local import MachineDefinition, MachineVersion


async def slow_job(machine: StateChart, **_: Any) -> str:
    await asyncio.sleep(float(machine.model.context.get("job_seconds", 5)))
    return "finished"


async def failing_job(**_: Any) -> str:
    raise ValueError("the quote service said no")


class Scratch(StateChart):
    ready = State(initial=True)
    working = State(invoke=slow_job)
    failed = State()
    doomed = State(invoke=failing_job)  # a failing service, taken by error_execution
    unguarded = State(invoke=failing_job)  # a failing service no transition takes

    put = ready.to.itself(on="store")
    grow = ready.to.itself(on="inflate")
    work = ready.to(working, on="plan")
    done_invoke_working = working.to(ready)
    error_execution = working.to(failed) | doomed.to(failed)
    try_doomed = ready.to(doomed)
    try_unguarded = ready.to(unguarded)
    reset = failed.to(ready) | unguarded.to(ready)
    corrupt = ready.to.itself(on="break_context")
    shout = ready.to.itself(on="print_lines")
    spin = ready.to.itself(on="spin_for")

    def store(self, payload: dict[str, Any]) -> None:
        self.model.context.setdefault("public", {})[str(payload.get("key"))] = payload.get("value")
        print(f"stored {payload.get('key')}")

    def inflate(self, payload: dict[str, Any]) -> None:
        self.model.context["blob"] = "x" * int(payload.get("size", 0))

    def break_context(self) -> None:
        self.model.context["not_json"] = {1, 2}  # the server must refuse to store this

    def print_lines(self, payload: dict[str, Any]) -> None:
        for _ in range(int(payload.get("lines", 1))):
            print("x" * int(payload.get("size", 1)))

    def spin_for(self, payload: dict[str, Any]) -> None:
        """Busy for `seconds` of CPU time, or for ever without it."""
        self.model.context.setdefault("public", {})["spun"] = True
        print("spinning")
        seconds = payload.get("seconds")
        started = time.thread_time()
        while seconds is None or time.thread_time() - started < seconds:
            pass

    def plan(self, payload: dict[str, Any]) -> None:
        self.model.context["job_seconds"] = payload.get("seconds", 5)


machine = MachineDefinition(
    slug="scratch",
    versions=[MachineVersion("v1", Scratch)],
    indexes={"rank": lambda context: context.get("public", {}).get("rank")},
)

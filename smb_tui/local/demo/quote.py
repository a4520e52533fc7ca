"""An insurance quote fetched by an async service: sending waits until it settles."""

import asyncio
from typing import Any

from statemachine import State, StateChart

from smb_tui.local.definitions import MachineDefinition, MachineVersion


async def fetch_quote(machine: StateChart, **_: Any) -> dict[str, Any]:
    request = machine.model.context.get("public", {})
    await asyncio.sleep(float(request.get("delay", 0.3)))
    return {"premium": 12 * len(str(request.get("car", "car")))}


class Quote(StateChart):
    idle = State(initial=True)
    fetching = State(invoke=fetch_quote)
    quoted = State()
    failed = State()

    request_quote = idle.to(fetching, on="record_request") | quoted.to(
        fetching, on="record_request"
    )
    done_invoke_fetching = fetching.to(quoted, on="record_quote")
    error_execution = fetching.to(failed)
    retry = failed.to(fetching)

    def record_request(self, payload: dict[str, Any]) -> None:
        public = self.model.context.setdefault("public", {})
        public["car"] = payload.get("car", public.get("car", "car"))
        public["delay"] = payload.get("delay", 0.3)

    def record_quote(self, data: Any = None) -> None:
        self.model.context.setdefault("public", {})["quote"] = data


machine = MachineDefinition(
    slug="quote",
    versions=[MachineVersion("v1", Quote, tags={"fetching": ["busy"], "quoted": ["ready"]})],
)

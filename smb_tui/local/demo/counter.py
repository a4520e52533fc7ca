"""A counter: the demo instance `busy` holds a long history made by the runtime itself."""

from typing import Any

from statemachine import State, StateChart

from smb_tui.local.definitions import MachineDefinition, MachineVersion


class Counter(StateChart):
    counting = State(initial=True)
    frozen = State()

    increment = counting.to.itself(on="add")
    decrement = counting.to.itself(on="subtract")
    freeze = counting.to(frozen)
    thaw = frozen.to(counting)

    def _public(self) -> dict[str, Any]:
        return self.model.context.setdefault("public", {"count": 0})

    def add(self, payload: dict[str, Any]) -> None:
        self._public()["count"] += _amount(payload)

    def subtract(self, payload: dict[str, Any]) -> None:
        self._public()["count"] -= _amount(payload)


def _amount(payload: dict[str, Any]) -> int | float:
    """`by`, a JavaScript number (an int, or a float past 2^53); 1 when it is not one."""
    by = payload.get("by", 1)
    return by if isinstance(by, int | float) and not isinstance(by, bool) else 1


machine = MachineDefinition(
    slug="counter",
    versions=[MachineVersion("v1", Counter, tags={"frozen": ["frozen"]})],
    indexes={"count": lambda context: context.get("public", {}).get("count")},
)

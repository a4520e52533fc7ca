"""An order that expires unless paid in time: a delayed transition into a final state."""

from typing import Any

from statemachine import State, StateChart

from smb_tui.local.definitions import MachineDefinition, MachineVersion


class Order(StateChart):
    awaiting_payment = State(initial=True)
    paid = State()
    shipped = State(final=True)
    expired = State(final=True)

    pay = awaiting_payment.to(paid, on="record_payment")
    expire = awaiting_payment.to(expired)
    ship = paid.to(shipped)

    def record_payment(self, payload: dict[str, Any]) -> None:
        self.model.context.setdefault("public", {})["paidAt"] = payload.get("at")
        print(f"payment recorded for {self.model.context.get('public', {}).get('item')}")


class OrderV2(Order):
    """v2 adds a customer-facing status line to the public context."""

    def on_enter_state(self, state: State) -> None:
        self.model.context.setdefault("public", {})["status"] = state.id

    def record_payment(self, payload: dict[str, Any]) -> None:
        super().record_payment(payload)
        print("customer told: paid")


def add_status(snapshot: Any) -> Any:
    public = dict(snapshot.context.get("public", {}))
    public["status"] = snapshot.state[-1] if snapshot.state else "unknown"  # active ids
    return type(snapshot)(snapshot.state, {**snapshot.context, "public": public})


machine = MachineDefinition(
    slug="order",
    versions=[
        MachineVersion(
            "v1",
            Order,
            tags={"paid": ["billable"]},
            after={"awaiting_payment": [(120.0, "expire")]},
        ),
        MachineVersion(
            "v2",
            OrderV2,
            tags={"paid": ["billable"]},
            after={"awaiting_payment": [(120.0, "expire")]},
            migrate=add_status,
        ),
    ],
)

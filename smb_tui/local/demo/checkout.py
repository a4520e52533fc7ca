"""A shop checkout: nested states, a parallel state, guards, tags and a final state."""

from typing import Any

from statemachine import State, StateChart

from smb_tui.local.definitions import MachineDefinition, MachineVersion


class Checkout(StateChart):
    class shopping(State.Compound):
        browsing = State(initial=True)

        class checkout(State.Parallel):
            class payment(State.Compound):
                unpaid = State(initial=True)
                paid = State()
                pay = unpaid.to(paid, cond="covers_total", on="record_payment")

            class shipping(State.Compound):
                no_address = State(initial=True)
                address_set = State()
                set_address = no_address.to(address_set, on="record_address")
                change_address = address_set.to(no_address)

        add_item = browsing.to.itself(on="record_item")
        start_checkout = browsing.to(checkout, cond="has_items")
        back_to_cart = checkout.to(browsing)

    placed = State(final=True)
    place_order = shopping.to(placed, cond="ready_to_place")

    def _public(self) -> dict[str, Any]:
        return self.model.context.setdefault("public", {"items": [], "total": 0})

    def record_item(self, payload: dict[str, Any]) -> None:
        price = payload.get("price", 1)
        public = self._public()
        public["items"] = [*public["items"], payload.get("item", "item")]
        public["total"] = public["total"] + (price if isinstance(price, int | float) else 0)

    def has_items(self) -> bool:
        return bool(self._public()["items"])

    def covers_total(self, payload: dict[str, Any]) -> bool:
        amount = payload.get("amount", 0)
        return isinstance(amount, int | float) and amount >= self._public()["total"]

    def record_payment(self, payload: dict[str, Any]) -> None:
        # The card never reaches the public context: only the admin view shows it.
        self.model.context["card_last4"] = str(payload.get("card", "0000"))[-4:]
        self._public()["paid"] = payload.get("amount")

    def record_address(self, payload: dict[str, Any]) -> None:
        self.model.context["address"] = payload.get("address", "")

    def ready_to_place(self) -> bool:
        active = self.configuration_values
        return "paid" in active and "address_set" in active


machine = MachineDefinition(
    slug="checkout",
    versions=[
        MachineVersion(
            "v1",
            Checkout,
            tags={"checkout": ["in-checkout"], "paid": ["paid"], "placed": ["order-placed"]},
        )
    ],
    indexes={"total": lambda context: context.get("public", {}).get("total")},
)

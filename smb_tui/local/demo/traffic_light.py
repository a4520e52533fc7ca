"""A traffic light that changes by itself: delayed transitions fired by the server."""

from statemachine import State, StateChart

from smb_tui.local.definitions import MachineDefinition, MachineVersion


class TrafficLight(StateChart):
    green = State(initial=True)
    yellow = State()
    red = State()
    blinking = State()

    timer = green.to(yellow) | yellow.to(red) | red.to(green)
    fault = green.to(blinking) | yellow.to(blinking) | red.to(blinking)
    repair = blinking.to(red)

    def on_enter_state(self, state: State) -> None:
        self.model.context.setdefault("public", {})["light"] = state.id


machine = MachineDefinition(
    slug="traffic-light",
    versions=[
        MachineVersion(
            "v1",
            TrafficLight,
            tags={"red": ["stop"], "blinking": ["fault"]},
            after={"green": [(8.0, "timer")], "yellow": [(3.0, "timer")], "red": [(6.0, "timer")]},
        )
    ],
)

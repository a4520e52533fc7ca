"""Test machine: a light that turns itself off 0.3 s after it was turned on."""

from statemachine import State, StateChart

from smb_tui.local import MachineDefinition, MachineVersion


class Blink(StateChart):
    off = State(initial=True)
    on = State()
    switch_on = off.to(on)
    switch_off = on.to(off)
    timeout = on.to(off)


machine = MachineDefinition(
    slug="blink",
    versions=[MachineVersion("v1", Blink, after={"on": [(0.3, "timeout")]})],
)

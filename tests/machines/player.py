"""Test machine: a player whose history pseudo-states (shallow and deep) bring it back
where it was when it was switched off."""

from statemachine import HistoryState, State, StateChart

from smb_tui.local import MachineDefinition, MachineVersion


class Player(StateChart):
    class on(State.Compound):
        class playing(State.Compound):
            normal = State(initial=True)
            fast = State()

            speed_up = normal.to(fast)

        paused = State()
        shallow = HistoryState()
        deep = HistoryState(type="deep")

        pause = playing.to(paused)
        resume = paused.to(playing)

    off = State()

    power_off = on.to(off)
    power_on = off.to(on.shallow)
    power_on_as_left = off.to(on.deep)


machine = MachineDefinition(slug="player", versions=[MachineVersion("v1", Player)])

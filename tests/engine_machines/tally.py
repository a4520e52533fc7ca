"""A machine for the engine seam test: run by `TallyEngine`, not python-statemachine."""

from smb_tui.local import MachineDefinition, MachineVersion

machine = MachineDefinition(
    slug="tally",
    versions=[MachineVersion("v1", chart=None)],
    # Its engine answers the index from the state it keeps; the context has no parity.
    indexes={"parity": lambda context: None},
)

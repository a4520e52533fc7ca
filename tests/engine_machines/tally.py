"""A machine for the engine seam test: run by `TallyEngine`, not python-statemachine."""

from smb_tui.local import MachineDefinition, MachineVersion

machine = MachineDefinition(slug="tally", versions=[MachineVersion("v1", chart=None)])

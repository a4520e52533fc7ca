"""Test machine: an allowWrite that tells anonymous sessions by their auth context."""

from statemachine import State, StateChart

from smb_tui.local import AuthRequest, MachineDefinition, MachineVersion


class Guarded(StateChart):
    idle = State(initial=True)
    poke = idle.to.itself()


def anonymous_or_demo_user(request: AuthRequest) -> bool:
    context = request.auth_context
    if context.get("auth") == "anonymous":  # exactly {sid, did, auth}, as State Backed says
        return sorted(context) == ["auth", "did", "sid"]
    return context.get("sub") == "demo-user"


machine = MachineDefinition(
    slug="guarded",
    versions=[MachineVersion("v1", Guarded, allow_write=anonymous_or_demo_user)],
)

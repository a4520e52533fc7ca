"""Test machine: authorizers that tell anonymous sessions apart, and an owner to read."""

from typing import Any

from statemachine import State, StateChart

from smb_tui.local import AuthRequest, MachineDefinition, MachineVersion


class Guarded(StateChart):
    idle = State(initial=True)
    broken = State()
    poke = idle.to.itself() | broken.to(idle)
    give = idle.to.itself(on="set_owner")
    crash = idle.to(broken)  # the server's own code fails on this state: an unexpected 500

    def set_owner(self, payload: dict[str, Any]) -> None:
        self.model.context.setdefault("public", {})["owner"] = payload.get("owner")
        self.model.context.setdefault("public", {})["secret"] = payload.get("secret")


def writers(request: AuthRequest) -> bool:
    context = request.auth_context
    if context.get("auth") == "anonymous":  # exactly {sid, did, auth}, as State Backed says
        return sorted(context) == ["auth", "did", "sid"]
    return context.get("sub") in ("demo-user", "alice")


def owner_reads(request: AuthRequest) -> bool:
    """Anyone reads an instance with no owner; once it has one, only the owner."""
    owner = request.context.get("public", {}).get("owner")
    return owner is None or owner == request.auth_context.get("sub")


class BrokenTags(dict[str, list[str]]):
    """Tags whose look-up fails for one state: a bug where the server does not expect one."""

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        if key == "broken":
            raise RuntimeError("tags of 'broken' cannot be read")
        return super().get(key, default)


machine = MachineDefinition(
    slug="guarded",
    versions=[
        MachineVersion(
            "v1", Guarded, allow_write=writers, allow_read=owner_reads, tags=BrokenTags()
        )
    ],
)

"""A document only its owner may change: an allowWrite authorizer."""

from typing import Any

from statemachine import State, StateChart

from smb_tui.local.definitions import AuthRequest, MachineDefinition, MachineVersion


class Document(StateChart):
    draft = State(initial=True)
    in_review = State()
    published = State()

    edit = draft.to.itself(on="record_edit")
    submit = draft.to(in_review)
    approve = in_review.to(published)
    reject = in_review.to(draft)
    unpublish = published.to(draft)

    def record_edit(self, payload: dict[str, Any]) -> None:
        public = self.model.context.setdefault("public", {})
        public["title"] = payload.get("title", public.get("title", ""))
        public["revision"] = public.get("revision", 0) + 1


def owner_only(request: AuthRequest) -> bool:
    """Only the user named as `owner` in the context may create or change the document."""
    return request.auth_context.get("sub") == request.context.get("owner")


machine = MachineDefinition(
    slug="document",
    versions=[
        MachineVersion(
            "v1",
            Document,
            allow_write=owner_only,
            tags={"in_review": ["needs-review"], "published": ["live"]},
        )
    ],
)

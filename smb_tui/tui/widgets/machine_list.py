"""The machines pane: every machine (paged), each with its current version."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message

from smb_tui.api.models import MachineSummary
from smb_tui.tui.widgets.paged_list import PagedList


def version_label(info: object) -> str:
    client_info = getattr(info, "client_info", None)
    if isinstance(client_info, str) and client_info:
        return client_info
    version_id = getattr(info, "id", None)
    return str(version_id)[:10] if version_id else "no version"


class MachineList(PagedList[MachineSummary]):
    class Chosen(Message):
        def __init__(self, machine: str) -> None:
            super().__init__()
            self.machine = machine

    def item_id(self, item: MachineSummary) -> str:
        return item.slug

    def item_prompt(self, item: MachineSummary) -> Text:
        text = Text(item.slug, style="bold")
        text.append(f"  {version_label(item.current_version)}", style="dim")
        return text

    def chosen(self, item_id: str) -> None:
        self.post_message(self.Chosen(item_id))

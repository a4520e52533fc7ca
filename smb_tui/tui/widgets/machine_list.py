"""The machines pane: every machine (paged), each with its current version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import Input, OptionList

from smb_tui.core.describe import version_label
from smb_tui.core.text import safe
from smb_tui.tui.widgets.filtered_list import FilteredList
from smb_tui.tui.widgets.paged_list import PagedList

if TYPE_CHECKING:  # loaded with the client, once the dashboard has drawn its first frame
    from smb_tui.api.models import MachineSummary


class MachineOptions(PagedList["MachineSummary"]):
    def item_id(self, item: MachineSummary) -> str:
        return item.slug

    def item_prompt(self, item: MachineSummary) -> Text:
        text = Text(safe(item.slug), style="bold")
        text.append(f"  {safe(version_label(item.current_version))}", style="dim")
        return text


class MachineList(FilteredList):
    """Machines; `/` filters them, Enter chooses one."""

    placeholder = "filter machines"

    class Chosen(Message):
        def __init__(self, machine: str) -> None:
            super().__init__()
            self.machine = machine

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-hide-empty-filter")

    def list_widget(self) -> MachineOptions:
        return MachineOptions(id="machine-options")

    @property
    def options(self) -> MachineOptions:
        return self.query_one(MachineOptions)

    @property
    def items(self) -> list[MachineSummary]:
        return self.options.items

    @property
    def failed(self) -> bool:
        return self.options.failed

    def load(self, fetch: object) -> None:
        self.options.load(fetch)  # type: ignore[arg-type]

    def retry(self) -> None:
        self.options.retry()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        shown = [m.slug for m in self.items if self.options.matches(m, event.value.strip())]
        if shown:
            self.post_message(self.Chosen(shown[0]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = self.options.id_at(event.option_index)
        if chosen is not None:
            event.stop()
            self.post_message(self.Chosen(chosen))

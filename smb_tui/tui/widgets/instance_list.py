"""The instances pane: a machine's instances, paged, with a filter over what is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import Input, OptionList

from smb_tui.api.wire import SLUG
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone
from smb_tui.tui.widgets.filtered_list import FilteredList
from smb_tui.tui.widgets.paged_list import PagedList

if TYPE_CHECKING:  # loaded with the client, once the dashboard has drawn its first frame
    from smb_tui.api.models import InstanceSummary


class InstanceOptions(PagedList["InstanceSummary"]):
    def item_id(self, item: InstanceSummary) -> str:
        return item.slug

    def item_prompt(self, item: InstanceSummary) -> Text:
        if item.status == "paused":
            text = Text("‖ ", style=tone("warn", "bold"))
        else:
            text = Text("● ", style=tone("ok", "bold"))
        text.append(safe(item.slug))
        if item.status not in ("running", "paused"):
            text.append(f" ({safe(item.status)})", style="dim")
        return text


class InstanceList(FilteredList):
    """A filter box over the loaded instances, one per machine; Enter on a slug not
    loaded opens it."""

    placeholder = "filter, or a slug + Enter"

    class Opened(Message):
        def __init__(self, instance: str, from_filter: bool = False) -> None:
            super().__init__()
            self.instance = instance
            self.from_filter = from_filter  # typed in the filter box, not chosen in the list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.machine: str | None = None
        self._filters: dict[str, str] = {}  # each machine keeps its own filter

    def list_widget(self) -> InstanceOptions:
        return InstanceOptions(id="instance-options")

    @property
    def options(self) -> InstanceOptions:
        return self.query_one(InstanceOptions)

    def show_machine(self, machine: str) -> None:
        """The instances of `machine` from now on, with the filter it had."""
        if self.machine is not None:
            self._filters[self.machine] = self.filter_box.value
        self.machine = machine
        self.set_filter(self._filters.get(machine, ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        slug = event.value.strip()
        if not slug:
            return
        visible = [item.slug for item in self.options.items if self.options.matches(item, slug)]
        # A unique partial match opens that instance; anything else opens what was typed.
        target = slug if slug in visible or len(visible) != 1 else visible[0]
        if not SLUG.fullmatch(target):
            self.notify(
                f"{safe(target)!r} is not a valid instance name", severity="error", markup=False
            )
            return
        self.post_message(self.Opened(target, from_filter=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = self.options.id_at(event.option_index)
        if chosen is not None:
            event.stop()
            self.post_message(self.Opened(chosen))

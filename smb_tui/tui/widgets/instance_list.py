"""The instances pane: a machine's instances, paged, with a filter over what is loaded."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList

from smb_tui.api.models import SLUG, InstanceSummary
from smb_tui.tui.widgets.paged_list import ERROR_ID, LOAD_MORE_ID, PagedList


class InstanceOptions(PagedList[InstanceSummary]):
    def item_id(self, item: InstanceSummary) -> str:
        return item.slug

    def item_prompt(self, item: InstanceSummary) -> Text:
        if item.status == "paused":
            text = Text("‖ ", style="bold yellow")
        else:
            text = Text("● ", style="bold green")
        text.append(item.slug)
        if item.status not in ("running", "paused"):
            text.append(f" ({item.status})", style="dim")
        return text


class InstanceList(Vertical):
    """A filter box over the loaded instances; Enter on a slug not loaded opens it."""

    DEFAULT_CSS = """
    InstanceList { height: 1fr; }
    InstanceList > InstanceOptions { height: 1fr; border: none; }
    """
    BINDINGS = [
        Binding("slash", "filter", "Filter", show=False),
        Binding("escape", "leave_filter", "Done filtering", show=False),
    ]

    class Opened(Message):
        def __init__(self, instance: str) -> None:
            super().__init__()
            self.instance = instance

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter, or a slug + Enter", id="instance-filter")
        yield InstanceOptions(id="instance-options")

    @property
    def options(self) -> InstanceOptions:
        return self.query_one(InstanceOptions)

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_leave_filter(self) -> None:
        self.screen.set_focus(self.options)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.options.set_filter(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        slug = event.value.strip()
        if not slug:
            return
        visible = [item.slug for item in self.options.items if self.options.matches(item, slug)]
        # A unique partial match opens that instance; anything else opens what was typed.
        target = slug if slug in visible or len(visible) != 1 else visible[0]
        if not SLUG.fullmatch(target):
            self.notify(f"{target!r} is not a valid instance name", severity="error", markup=False)
            return
        self.post_message(self.Opened(target))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_id not in (None, LOAD_MORE_ID, ERROR_ID):
            event.stop()
            self.post_message(self.Opened(event.option_id))

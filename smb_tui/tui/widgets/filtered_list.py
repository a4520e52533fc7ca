"""A paged list with a filter box above it: `/` to filter, Esc to clear and go back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

from smb_tui.tui.widgets.paged_list import PagedList


class FilteredList(Vertical):
    ALLOW_MAXIMIZE = True
    """The filter narrows what is loaded; subclasses say what Enter in the box does."""

    DEFAULT_CSS = """
    FilteredList { height: 1fr; }
    FilteredList > PagedList { height: 1fr; border: none; }
    FilteredList > Input { border: none; height: 1; padding: 0 1; background: $boost; }
    FilteredList > Input:focus { border: none; background: $accent 25%; }
    FilteredList.-hide-empty-filter > Input.-empty { display: none; }
    FilteredList.-hide-empty-filter.-filtering > Input.-empty { display: block; }
    """
    BINDINGS = [Binding("slash", "filter", "Filter", tooltip="Filter what is loaded")]
    placeholder = "filter"

    def list_widget(self) -> PagedList:  # type: ignore[type-arg]
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self.placeholder, classes="-empty")
        yield self.list_widget()

    @property
    def filter_box(self) -> Input:
        return self.query_one(Input)

    @property
    def paged(self) -> PagedList:  # type: ignore[type-arg]
        return self.query_one(PagedList)

    def action_filter(self) -> None:
        self.add_class("-filtering")
        self.screen.set_focus(self.filter_box)

    def set_filter(self, text: str) -> None:
        box = self.filter_box
        with box.prevent(Input.Changed):
            box.value = text
        box.set_class(not text, "-empty")
        self.paged.set_filter(text.strip())

    def clear_filter(self) -> bool:
        """Esc: clear the filter and go back to the list. True when there was one."""
        had = bool(self.filter_box.value) or self.filter_box.has_focus
        self.set_filter("")
        self.remove_class("-filtering")
        self.screen.set_focus(self.paged)
        return had

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        event.input.set_class(not event.value, "-empty")
        self.paged.set_filter(event.value.strip())

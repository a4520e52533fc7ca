"""Every key, by pane."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.keys import format_key
from textual.widgets import (
    Static,
)

from smb_tui.tui.palette import tone
from smb_tui.tui.screens.modals.base import Modal


def key_display(binding: Binding) -> str:
    """A key as the footer shows it (`^p`, `shift+tab`, `?`): Textual's own rule."""
    if binding.key_display:
        return binding.key_display
    modifiers, key = binding.parse_key()
    key = format_key(key)
    if "ctrl" in modifiers:
        modifiers.remove("ctrl")
        key = f"^{key}"
    return "+".join([*modifiers, key])


def _rows(bindings: Sequence[BindingType]) -> list[tuple[str, Text]]:
    """Each described binding: its keys, and what it does with how (dim)."""
    rows = []
    for binding in (b if isinstance(b, Binding) else Binding(*b) for b in bindings):
        if not binding.description:
            continue
        keys = ", ".join(key_display(Binding(k.strip(), "")) for k in binding.key.split(","))
        what = Text(binding.description)
        if binding.tooltip:
            what.append(f": {binding.tooltip}", style="dim")
        rows.append((keys, what))
    return rows


def section_text(title: str, bindings: Sequence[BindingType]) -> Text:
    """One pane's keys, one a line: the keys, what they do, and how (dim)."""
    text = Text()
    text.append(f"{title}\n", style="bold underline")
    for keys, what in _rows(bindings):
        text.append(f"  {keys:<13} ", style=tone("accent", "bold"))  # a space, however long
        text.append_text(what)
        text.append("\n")
    return text


def section_table(title: str, bindings: Sequence[BindingType]) -> Group:
    """One pane's keys as `section_text` has them, a line wrapping under what it does
    (not under the keys)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, min_width=15, style=tone("accent", "bold"))
    grid.add_column(ratio=1)
    for keys, what in _rows(bindings):
        grid.add_row(f"  {keys}", what)
    return Group(Text(title, style="bold underline"), grid, Text())


class HelpScreen(Modal[None]):
    """Every key, gathered from the bindings themselves so that it cannot drift."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self.sections = [
            (title, [b if isinstance(b, Binding) else Binding(*b) for b in bindings])
            for title, bindings in sections
        ]

    def _section(self, title: str, bindings: Sequence[Binding]) -> Group:
        return section_table(title, bindings)

    def compose(self) -> ComposeResult:
        # Two columns where there is room, so that every key fits without scrolling.
        first, *rest = self.sections
        with Vertical():
            yield Static(Text("Keys", style="bold"), classes="title")
            with VerticalScroll():
                if self.app.size.width >= 120:
                    with Horizontal(id="help-columns"):
                        yield Static(self._section(*first), classes="help-column")
                        yield Static(
                            Group(*(self._section(*section) for section in rest)),
                            classes="help-column",
                        )
                else:
                    yield Static(Group(*(self._section(*section) for section in self.sections)))
            yield Static(Text("Esc closes · Ctrl+P finds any action by name", style="dim"))

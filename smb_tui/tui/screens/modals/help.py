"""Every key, by pane."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Static,
)

from smb_tui.tui.palette import tone
from smb_tui.tui.screens.modals.base import Modal


class HelpScreen(Modal[None]):
    """Every key, gathered from the bindings themselves so that it cannot drift."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self.sections = [
            (title, [b if isinstance(b, Binding) else Binding(*b) for b in bindings])
            for title, bindings in sections
        ]

    def _section(self, title: str, bindings: Sequence[Binding]) -> Text:
        text = Text()
        text.append(f"{title}\n", style="bold underline")
        for binding in bindings:
            if not binding.description:
                continue
            keys = ", ".join(
                self.app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(",")
            )
            text.append(f"  {keys:<14}", style=tone("accent", "bold"))
            text.append(binding.description)
            if binding.tooltip:
                text.append(f": {binding.tooltip}", style="dim")
            text.append("\n")
        return text

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
                            Text("\n").join(self._section(*section) for section in rest),
                            classes="help-column",
                        )
                else:
                    yield Static(
                        Text("\n").join(self._section(*section) for section in self.sections)
                    )
            yield Static(Text("Esc closes · Ctrl+P finds any action by name", style="dim"))

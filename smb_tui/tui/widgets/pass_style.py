"""Widgets drawn line by line, their own style looked up once a drawing pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

if TYPE_CHECKING:
    from textual.widget import Widget as _Widget
else:  # a mixin: a Widget base of its own would reorder the widget's default CSS
    _Widget = object


class StyledOncePerPass(_Widget):
    """`self.base_style` is this widget's Rich style, the same for every line of one
    drawing pass: looked up once a pass. Textual's `rich_style` walks the widget's
    ancestors each time (tens of microseconds), and a line or three a row asked for it:
    40% of drawing a screenful of new history rows, and most of a cursor move's redraw."""

    _pass_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    @property
    def base_style(self) -> Style:
        style = self._pass_style
        return self.rich_style if style is None else style

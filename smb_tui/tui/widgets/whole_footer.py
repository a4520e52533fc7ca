"""A footer that shows whole key entries only: what does not fit is left for `?`."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def _width(key: FooterKey) -> int:
    # Compact: key, a space, the description, then a margin of one.
    return cell_len(key.key_display) + 1 + cell_len(key.description) + 1


class WholeFooter(Footer):
    def compose(self) -> ComposeResult:
        keys = [key for key in super().compose() if isinstance(key, FooterKey)]
        palette = [key for key in keys if key.has_class("-command-palette")]
        room = self.app.size.width - sum(_width(key) + 1 for key in palette)
        for key in keys:
            if key in palette:
                continue
            room -= _width(key)
            if room < 0:
                break
            yield key
        yield from palette

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)

"""A footer that shows whole key entries only: what does not fit is left for `?`."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def _width(key: FooterKey) -> int:
    # Compact: key, a space, the description, then a margin of one.
    return cell_len(key.key_display) + 1 + cell_len(key.description) + 1


def _shown(screen: Screen) -> tuple[object, ...]:
    """What a footer would show for `screen`'s bindings now."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return tuple(
        (key, binding.action, binding.description, binding.key_display, enabled, tooltip)
        for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
        if binding.show or key == palette
    )


class WholeFooter(Footer):
    _shown: tuple[object, ...] | None = None  # what the keys mounted show
    _composed_for = 0  # the terminal's width when the keys were chosen
    _rebuild_waiting = False  # a rebuild is asked for and has not started

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuilt only when what it shows changes: a rebuild mounts every key anew (10-30
        ms), and opening an instance or moving the focus asked for several in a row that
        showed the same keys. Changes that come while a rebuild waits for the next
        refresh are shown by it: it reads the bindings when it runs."""
        shown = _shown(screen) if screen is self.screen and self.is_attached else None
        if shown is not None and shown == self._shown:
            return
        # Not rebuilt while the app is not focused (Footer waits for focus to come back).
        self._shown = shown if screen.app.app_focus else None
        if self._rebuild_waiting:
            return
        super().bindings_changed(screen)
        self._rebuild_waiting = screen.app.app_focus and shown is not None

    async def recompose(self) -> None:
        self._rebuild_waiting = False
        await super().recompose()

    def compose(self) -> ComposeResult:
        keys = [key for key in super().compose() if isinstance(key, FooterKey)]
        palette = [key for key in keys if key.has_class("-command-palette")]
        self._composed_for = self.app.size.width
        room = self._composed_for - sum(_width(key) + 1 for key in palette)
        for key in keys:
            if key in palette:
                continue
            room -= _width(key)
            if room < 0:
                break
            yield key
        yield from palette

    def on_resize(self) -> None:
        # Not on the first resize (the keys were chosen for this width): a rebuild before
        # the first frame mounts every key again.
        if self.app.size.width != self._composed_for:
            self.call_after_refresh(self.recompose)

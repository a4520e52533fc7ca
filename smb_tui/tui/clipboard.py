"""Copying to the clipboard through the terminal (OSC 52), and saying what was copied."""

from __future__ import annotations

from textual.widget import Widget

# Past this many bytes, many terminals (and tmux, and SSH clients between) drop an OSC 52
# copy without a word: the notice says so instead of "copied".
LARGE_COPY = 100_000


def copy_and_say(widget: Widget, text: str, what: str) -> None:
    """Copy `text`; tell the user `what` was copied, or that it may not have arrived."""
    widget.app.copy_to_clipboard(text)
    size = len(text.encode())
    if size <= LARGE_COPY:
        widget.notify(f"{what} copied as JSON", markup=False)
        return
    widget.notify(
        f"{what} sent to the clipboard as JSON, {size / 1000:,.0f} kB: many terminals drop a"
        " copy this large without a word; paste to check",
        severity="warning",
        timeout=8,
        markup=False,
    )

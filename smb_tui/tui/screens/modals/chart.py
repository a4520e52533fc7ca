"""The statechart, drawn (`M`): the machine's states and transitions, the instance's
active states lit, how often the loaded history took each transition, and a cursor over
the history (`<` `>`) that lights the state of that row and the transition that led there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static

from smb_tui.core.chart import Chart, ChartTooLarge
from smb_tui.core.chart_draw import Options, draw, rich_text
from smb_tui.core.history_buffer import Row
from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal

_AFTER = re.compile(r"^(xstate\.after\([^)]*\))#.*$")


def event_kind(event_type: str) -> str:
    """A history row's event type as a chart's transition knows it (delays without the
    state they belong to)."""
    match = _AFTER.match(event_type)
    return match[1] if match else event_type


class ChartScreen(Modal[None]):
    """The chart of the open instance's machine. `rows`: the loaded history, newest
    first; `at`: the row the history's cursor is on (-1: none, the instance as it is)."""

    BINDINGS = [
        Binding("escape,q,M", "dismiss", "Close"),
        Binding("tab", "focus_state(1)", "Next state", priority=True),
        Binding("shift+tab", "focus_state(-1)", "Previous state", priority=True),
        Binding("enter,space", "fold", "Fold", tooltip="Fold or unfold the state under focus"),
        Binding("less_than_sign,comma", "step(1)", "Older row"),
        Binding("greater_than_sign,full_stop", "step(-1)", "Newer row"),
    ]

    def __init__(
        self, title: str, chart: Chart, note: str, rows: Sequence[Row], active: object, at: int
    ) -> None:
        super().__init__()
        self.title_text = title
        self.chart = chart
        self.note = note
        self.rows = list(rows)
        self.current_value = active
        self.at = at if 0 <= at < len(self.rows) else -1
        self.counts = Counter(event_kind(row.event_type) for row in self.rows)
        self.folded: set[str] = set()
        self.focus_id: str | None = None
        self.states = [s for s in chart.by_id.values() if s.parent is not None]

    def compose(self) -> ComposeResult:
        with Vertical(id="chart-dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="title")
            yield Static(Text(self.note, style="dim"), id="chart-note")
            yield Static(id="chart-row")
            with ScrollableContainer(id="chart-canvas"):
                yield Static(id="chart-drawing")
            yield Static(
                Text(
                    "arrows pan · Tab state · Enter fold · < > history rows · Esc close",
                    style="dim",
                )
            )

    def on_mount(self) -> None:
        self.redraw()
        self.query_one("#chart-canvas").focus()

    def _options(self) -> Options:
        if self.at >= 0:
            row = self.rows[self.at]
            value, hot = row.state_value, event_kind(row.event_type)
        else:
            value, hot = self.current_value, None
        return Options(
            active=self.chart.active(value),
            counts=self.counts,
            hot=hot,
            folded=self.folded,
            focus=self.focus_id,
        )

    def redraw(self) -> None:
        try:
            drawing = draw(self.chart, self._options())
        except ChartTooLarge as error:
            self.query_one("#chart-drawing", Static).update(Text(f"Not drawn: {error}"))
            return
        self.drawing = drawing
        self.query_one("#chart-drawing", Static).update(rich_text(drawing))
        row = self.query_one("#chart-row", Static)
        if self.at >= 0:
            shown = self.rows[self.at]
            place = f"row {self.at + 1:,} of {len(self.rows):,} (newest first)"
            row.update(
                Text.assemble(
                    (f"{place}: ", "dim"),
                    (shown.event_type, "bold yellow"),
                    f" at {safe(shown.created_at)} -> {shown.state}",
                )
            )
        else:
            row.update(Text("The instance as it is now (< steps into the history)", style="dim"))

    def follow(self, value: object) -> None:
        """The instance moved (a live update): light where it is now, unless the user is
        looking at a history row."""
        if value == self.current_value:
            return
        self.current_value = value
        if self.at < 0 and self.is_mounted:
            self.redraw()

    def action_focus_state(self, step: int) -> None:
        if not self.states:
            return
        ids = [s.id for s in self.states]
        index = ids.index(self.focus_id) + step if self.focus_id in ids else 0 if step > 0 else -1
        self.focus_id = ids[index % len(ids)]
        self.redraw()
        box = self.drawing.boxes.get(self.focus_id)
        if box is not None:
            x, y, _, _ = box
            canvas = self.query_one("#chart-canvas", ScrollableContainer)
            canvas.scroll_to(max(0, x - 4), max(0, y - 2), animate=False)
        state = self.chart.by_id[self.focus_id]
        self.query_one("#chart-note", Static).update(
            Text(f"{self.note} · focus: {safe(state.id)} ({safe(state.type)})", style="dim")
        )

    def action_fold(self) -> None:
        if self.focus_id is None:
            self.notify("Tab to a compound state first, then Enter folds it", markup=False)
            return
        state = self.chart.by_id[self.focus_id]
        if not state.children:
            self.notify(f"{safe(state.key)} has no states inside to fold", markup=False)
            return
        self.folded ^= {state.id}
        self.redraw()

    def action_step(self, step: int) -> None:
        if not self.rows:
            self.notify("No history rows are loaded", markup=False)
            return
        self.at = max(-1, min(len(self.rows) - 1, self.at + step))
        self.redraw()

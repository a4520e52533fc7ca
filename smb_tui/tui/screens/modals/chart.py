"""The statechart, drawn (`M`): the machine's states and transitions, the instance's
active states lit, how often the loaded history took each transition, and a cursor over
the history (`<` `>`) that lights the state of that row and the transition that led there.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from smb_tui.core.chart import Chart, ChartTooLarge
from smb_tui.core.chart_draw import STYLES, Drawing, Options, draw
from smb_tui.core.history_buffer import Row
from smb_tui.core.text import safe
from smb_tui.tui.screens.modals.base import Modal
from smb_tui.tui.widgets.pass_style import StyledOncePerPass

_AFTER = re.compile(r"^(xstate\.after\([^)]*\))#.*$")
DRAWN_AT_ONCE = 60  # states: a chart this small is drawn in a few ms, on the UI thread


def _draw(chart: Chart, options: Options) -> Drawing | str:
    """The drawing, or why there is none."""
    try:
        return draw(chart, options)
    except ChartTooLarge as error:
        return str(error)


def _key(options: Options) -> tuple[object, ...]:
    """What tells one drawing from another on this screen (its counts never change)."""
    return (frozenset(options.active), options.hot, frozenset(options.folded), options.focus)


def event_kind(event_type: str) -> str:
    """A history row's event type as a chart's transition knows it (delays without the
    state they belong to)."""
    match = _AFTER.match(event_type)
    return match[1] if match else event_type


class ChartCanvas(StyledOncePerPass, ScrollView, can_focus=True):
    """The drawing, made into lines of the screen only as they come into view: a chart
    of 399 states is 2,800 lines of 1,500 cells, which a Static measured and styled whole
    each time it changed (seconds on the UI thread, after the drawing itself)."""

    DEFAULT_CSS = "ChartCanvas { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        self.spans: list[list[tuple[int, int, str]]] = []

    def show(self, drawing: Drawing) -> None:
        self.lines, self.spans = drawing.lines, drawing.spans
        self.virtual_size = Size(drawing.width, len(drawing.lines))
        self.refresh()

    def say(self, text: str) -> None:
        """A line in place of a drawing (none could be made)."""
        self.lines, self.spans = [text], [[]]
        self.virtual_size = Size(len(text), 1)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.base_style
        row = y + scroll_y
        if not 0 <= row < len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[row]
        segments: list[Segment] = []
        at = 0
        for begin, end, name in self.spans[row]:
            if begin > at:
                segments.append(Segment(line[at:begin], base))
            segments.append(Segment(line[begin:end], base + _style(name)))
            at = end
        if at < len(line):
            segments.append(Segment(line[at:], base))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base)


@cache
def _style(name: str) -> Style:
    return Style.parse(STYLES.get(name) or "")


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
        # Drawings made, by what they show: stepping back over rows seen is instant.
        self._drawn_for: LRUCache[tuple[object, ...], Drawing] = LRUCache(16)
        self._generation = 0  # of the drawing last asked for: only it is shown
        self._pending: tuple[Options, int] | None = None  # asked for while one was drawn
        self._busy = False  # a drawing is being made off the UI thread
        self._scroll_to_focus = False
        self._shown_made = -1

    def compose(self) -> ComposeResult:
        with Vertical(id="chart-dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="title")
            yield Static(Text(self.note, style="dim"), id="chart-note")
            yield Static(id="chart-row")
            yield ChartCanvas(id="chart-canvas")
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
        """Draw what the screen asks for now. A chart of a few dozen states takes a few
        ms, and is drawn at once; a large one (399 states: 3 s) is drawn off the UI
        thread, one drawing at a time, the latest asked for next: keys are handled
        meanwhile, and the drawing shown says what it is until the new one comes."""
        self._generation += 1
        options = self._options()
        key = _key(options)
        held = self._drawn_for.get(key)
        if held is not None:
            self._pending = None  # what was asked for before is not wanted now
            self._show(held, self._generation)
        elif len(self.chart.by_id) <= DRAWN_AT_ONCE:
            self._pending = None
            self._show(_draw(self.chart, options), self._generation)
        else:
            self._pending = (options, self._generation)
            if not self._busy:
                self._next_drawing()
        self._show_row()

    def _next_drawing(self) -> None:
        assert self._pending is not None
        options, generation = self._pending
        self._pending, self._busy = None, True
        self._draw_apart(options, generation)

    @work(thread=True, group="chart-draw", exit_on_error=False)
    def _draw_apart(self, options: Options, generation: int) -> None:
        try:
            drawing = _draw(self.chart, options)
        except Exception as error:  # said on the screen; the next key draws again
            drawing = f"unexpected: {error}"
        with contextlib.suppress(RuntimeError):  # the app is gone meanwhile
            self.app.call_from_thread(self._drawn_apart, drawing, options, generation)

    def _drawn_apart(self, drawing: Drawing | str, options: Options, made: int) -> None:
        self._busy = False
        if not self.is_mounted:
            return  # closed meanwhile: nothing more is drawn
        if isinstance(drawing, Drawing):
            self._drawn_for[_key(options)] = drawing
        if self._pending is not None:
            self._next_drawing()
        self._show(drawing, made)
        self._show_row()

    def _show(self, drawing: Drawing | str, made: int) -> None:
        """`drawing` on the screen: the one asked for last, or (while that one is drawn)
        the newest made before it."""
        if made < self._shown_made:
            return  # a newer drawing is on screen already
        self._shown_made = made
        if isinstance(drawing, str):
            self.query_one(ChartCanvas).say(f"Not drawn: {safe(drawing)}")
            return
        self.drawing = drawing
        self.query_one(ChartCanvas).show(drawing)
        if made == self._generation and self._scroll_to_focus:
            self._scroll_to_focus = False
            box = drawing.boxes.get(self.focus_id or "")
            if box is not None:
                x, y, _, _ = box
                canvas = self.query_one(ChartCanvas)
                canvas.scroll_to(max(0, x - 4), max(0, y - 2), animate=False)

    def _show_row(self) -> None:
        row = self.query_one("#chart-row", Static)
        drawing = (
            Text(f"  ⧗ drawing {len(self.chart.by_id) - 1:,} states…", style="bold yellow")
            if self._shown_made < self._generation  # a newer drawing is wanted
            else Text()
        )
        if self.at >= 0:
            shown = self.rows[self.at]
            place = f"row {self.at + 1:,} of {len(self.rows):,} (newest first)"
            row.update(
                Text.assemble(
                    (f"{place}: ", "dim"),
                    (shown.event_type, "bold yellow"),
                    f" at {safe(shown.created_at)} -> {shown.state}",
                    drawing,
                )
            )
        else:
            row.update(
                Text.assemble(
                    Text("The instance as it is now (< steps into the history)", style="dim"),
                    drawing,
                )
            )

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
        self._scroll_to_focus = True  # once its drawing is shown
        self.redraw()
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

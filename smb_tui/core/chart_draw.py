"""A `Chart` drawn as text with style spans: see `chart.py` for how it is laid out.

Styles named in the spans: "box" (a state), "active" (a state the instance is in),
"focus" (the state the viewer's cursor is on), "edge", "hot" (the transition of the
history row under the cursor), "label", "count" (how often the loaded history took a
transition), "dim" (tags, invocations).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from grandalf.routing import route_with_lines
from rich.text import Text

from smb_tui.core.chart import Chart, State, Transition
from smb_tui.core.text import safe

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
LINES = {
    UP | DOWN: "│", LEFT | RIGHT: "─", DOWN | RIGHT: "┌", DOWN | LEFT: "┐", UP | RIGHT: "└",
    UP | LEFT: "┘", UP | DOWN | RIGHT: "├", UP | DOWN | LEFT: "┤", DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴", UP | DOWN | LEFT | RIGHT: "┼", UP: "│", DOWN: "│", LEFT: "─",
    RIGHT: "─",
}  # fmt: skip
BORDERS = {
    "atomic": "╭╮╰╯─│",
    "compound": "┌┐└┘─│",
    "final": "╔╗╚╝═║",
    "parallel": "┏┓┗┛━┃",
}
X_GAP, Y_GAP = 3, 1  # between boxes and labels in a layout, in cells
NAME_WIDTH = 40  # longer names and labels are cut, with an ellipsis
TIMES = "\u00d7"  # x, how often a transition was taken


@dataclass
class Drawing:
    lines: list[str]
    spans: list[list[tuple[int, int, str]]]  # per line: (start, end, style)
    boxes: dict[str, tuple[int, int, int, int]]  # state id -> x, y, width, height

    @property
    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines) + "\n"


@dataclass
class Options:
    active: Collection[str] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # event kind -> times taken
    hot: str | None = None  # an event kind to highlight
    folded: Collection[str] = ()
    focus: str | None = None


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.styles: list[list[str | None]] = [[None] * width for _ in range(height)]
        self.mask = [[0] * width for _ in range(height)]
        self.mask_style: list[list[str | None]] = [[None] * width for _ in range(height)]
        self.covered = [[False] * width for _ in range(height)]
        self.boxes: dict[str, tuple[int, int, int, int]] = {}

    def put(self, x: int, y: int, char: str, style: str | None) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x] = char
            self.styles[y][x] = style
            self.covered[y][x] = True

    def text(self, x: int, y: int, text: str, style: str | None) -> None:
        for offset, char in enumerate(text):
            self.put(x + offset, y, char, style)

    def line(self, a: tuple[int, int], b: tuple[int, int], style: str) -> None:
        """An orthogonal segment into the line mask (horizontal or vertical only)."""
        (x1, y1), (x2, y2) = a, b
        if y1 == y2:
            step = 1 if x2 >= x1 else -1
            for x in range(x1, x2, step):
                self._mark(x, y1, RIGHT if step > 0 else LEFT, style)
                self._mark(x + step, y1, LEFT if step > 0 else RIGHT, style)
        else:
            step = 1 if y2 >= y1 else -1
            for y in range(y1, y2, step):
                self._mark(x1, y, DOWN if step > 0 else UP, style)
                self._mark(x1, y + step, UP if step > 0 else DOWN, style)

    def _mark(self, x: int, y: int, bits: int, style: str) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.mask[y][x] |= bits
            if self.mask_style[y][x] != "hot":
                self.mask_style[y][x] = style

    def blit(self, other: Canvas, ox: int, oy: int) -> None:
        other.finish()
        for y in range(other.height):
            for x in range(other.width):
                if 0 <= ox + x < self.width and 0 <= oy + y < self.height:
                    self.chars[oy + y][ox + x] = other.chars[y][x]
                    self.styles[oy + y][ox + x] = other.styles[y][x]
                    self.covered[oy + y][ox + x] = True
        for state, (x, y, w, h) in other.boxes.items():
            self.boxes[state] = (x + ox, y + oy, w, h)

    def finish(self) -> None:
        for y in range(self.height):
            for x in range(self.width):
                bits = self.mask[y][x]
                if bits and not self.covered[y][x]:
                    self.chars[y][x] = LINES.get(bits, "┼")
                    self.styles[y][x] = self.mask_style[y][x]
                    self.covered[y][x] = True
                    self.mask[y][x] = 0

    def box(self, x: int, y: int, w: int, h: int, kind: str, style: str) -> None:
        tl, tr, bl, br, horizontal, vertical = tuple(BORDERS.get(kind, BORDERS["atomic"]))
        self.put(x, y, tl, style)
        self.put(x + w - 1, y, tr, style)
        self.put(x, y + h - 1, bl, style)
        self.put(x + w - 1, y + h - 1, br, style)
        for i in range(x + 1, x + w - 1):
            self.put(i, y, horizontal, style)
            self.put(i, y + h - 1, horizontal, style)
        for j in range(y + 1, y + h - 1):
            self.put(x, j, vertical, style)
            self.put(x + w - 1, j, vertical, style)
            for i in range(x + 1, x + w - 1):
                self.put(i, j, " ", None)


def _cut(text: str) -> str:
    text = safe(text)
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


class _View:
    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


class _EdgeView:
    points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = points


class _Kept:
    """The last few layouts grandalf made, by what was laid out (any thread may draw)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._held: dict[tuple[object, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> Any:
        with self._lock:
            return self._held.get(key)

    def put(self, key: tuple[object, ...], value: Any) -> None:
        with self._lock:
            self._held[key] = value
            while len(self._held) > self.size:
                del self._held[next(iter(self._held))]


_PLACED = _Kept(64)  # a chart has a layout per compound state (and per fold)


def draw(chart: Chart, options: Options | None = None) -> Drawing:
    """The whole chart: the machine's states laid out, with no box around them."""
    options = options or Options()
    canvas = _Layout(chart, options).children(chart.root)
    canvas.finish()
    lines = ["".join(row) for row in canvas.chars]
    spans: list[list[tuple[int, int, str]]] = []
    for row in canvas.styles:
        runs: list[tuple[int, int, str]] = []
        for x, style in enumerate(row):
            if style is None:
                continue
            if runs and runs[-1][2] == style and runs[-1][1] == x:
                runs[-1] = (runs[-1][0], x + 1, style)
            else:
                runs.append((x, x + 1, style))
        spans.append(runs)
    return Drawing(lines, spans, canvas.boxes)


class _Layout:
    def __init__(self, chart: Chart, options: Options) -> None:
        self.chart = chart
        self.options = options

    def _lift(self, state_id: str, parent: State) -> State | None:
        """The child of `parent` that holds `state_id` (itself, or an ancestor of it)."""
        node = self.chart.by_id.get(state_id)
        while node is not None and node.parent is not parent:
            node = node.parent
        return node

    def _label(self, transitions: list[Transition]) -> list[str]:
        lines = []
        for t in transitions:
            count = self.options.counts.get(t.kind, 0)
            lines.append(_cut(t.label()) + (f" {TIMES}{count}" if count else ""))
        return lines

    def _style(self, state: State) -> str:
        if state.id == self.options.focus:
            return "focus"
        return "active" if state.id in self.options.active else "box"

    def state(self, state: State) -> Canvas:
        folded = state.id in self.options.folded
        if state.children and not folded:
            return self.compound(state)
        title = (
            ("▸ " if state.is_initial else "")
            + ("H " if state.type == "history" else "")  # a history pseudo-state
            + _cut(state.key)
            + (" ⊞" if state.children else "")
        )
        rows: list[tuple[str, str | None]] = [(title, self._style(state))]
        if state.tags:
            rows.append((_cut(" ".join(f"#{tag}" for tag in state.tags)), "dim"))
        for invoked in state.invokes:
            rows.append((_cut(f"invokes {invoked}"), "dim"))
        loops = [t for t in self.chart.transitions if t.source == t.target == state.id]
        for t, text in zip(loops, self._label(loops), strict=True):
            rows.append((f"↻ {text}", "hot" if t.kind == self.options.hot else "label"))
        width = max(len(text) for text, _ in rows) + 4
        canvas = Canvas(width, len(rows) + 2)
        kind = "final" if state.type == "final" else "atomic"
        canvas.box(0, 0, width, len(rows) + 2, kind, self._style(state))
        for y, (text, style) in enumerate(rows, 1):
            canvas.text(2, y, text, style)
        canvas.boxes[state.id] = (0, 0, width, len(rows) + 2)
        return canvas

    def compound(self, state: State) -> Canvas:
        inner = self.children(state)
        title = ("▸ " if state.is_initial else "") + _cut(state.key)
        if state.tags:
            title += "  " + _cut(" ".join(f"#{tag}" for tag in state.tags))
        width = max(inner.width + 4, len(title) + 6)
        height = inner.height + 2
        canvas = Canvas(width, height)
        style = self._style(state)
        canvas.box(
            0, 0, width, height, "parallel" if state.type == "parallel" else "compound", style
        )
        canvas.text(2, 0, f" {title} ", style)
        canvas.blit(inner, 2, 1)
        canvas.boxes[state.id] = (0, 0, width, height)
        return canvas

    def children(self, state: State) -> Canvas:
        blocks = {child.id: self.state(child) for child in state.children}
        if state.type == "parallel":
            return self._side_by_side(state, blocks)
        groups: dict[tuple[str, str], list[Transition]] = {}
        for t in self.chart.transitions:
            lifted_source, lifted_target = self._lift(t.source, state), self._lift(t.target, state)
            if lifted_source is None or lifted_target is None or lifted_source is lifted_target:
                continue
            groups.setdefault((lifted_source.id, lifted_target.id), []).append(t)
        vertices = {cid: Vertex(cid) for cid in blocks}
        for cid, vertex in vertices.items():
            vertex.view = _View(blocks[cid].width, blocks[cid].height)
        edges: list[Edge] = []
        labels: dict[tuple[str, str], tuple[Vertex, list[str], bool]] = {}
        for (source, target), transitions in groups.items():
            text = self._label(transitions)
            hot = any(t.kind == self.options.hot for t in transitions)
            label = Vertex(("label", source, target))
            label.view = _View(max(len(line) for line in text), len(text))
            labels[(source, target)] = (label, text, hot)
            for a, b in ((vertices[source], label), (label, vertices[target])):
                edge = Edge(a, b)
                edge.view = _EdgeView()
                edges.append(edge)
        placed = self._place(vertices, labels, edges)
        # Bends of long and backward edges may lie outside the boxes: the canvas holds
        # them too.
        bends = [point for e in edges for point in e.view.points[1:-1]]
        left = min([x - w / 2 for x, _, w, _, _ in placed] + [x - 1 for x, _ in bends], default=0.0)
        top = min([y - h / 2 for _, y, _, h, _ in placed] + [y - 1 for _, y in bends], default=0.0)
        for e in edges:
            e.view.points = [(x - left, y - top) for x, y in e.view.points]
        rects: dict[object, tuple[int, int, int, int]] = {}
        for x, y, w, h, v in placed:
            rects[v.data] = (round(x - w / 2 - left), round(y - h / 2 - top), int(w), int(h))
        width = (
            max([x + w for x, _, w, _ in rects.values()] + [round(x) + 2 for x, _ in bends] or [0])
            + 1
        )
        height = (
            max([y + h for _, y, _, h in rects.values()] + [round(y) + 2 for _, y in bends] or [0])
            + 1
        )
        canvas = Canvas(width, height)
        for edge in edges:
            a, b = edge.v[0].data, edge.v[1].data
            is_label_end = isinstance(b, tuple)
            key = (a, b[2]) if is_label_end else (a[1], b)
            hot = labels[key][2]
            self._route(canvas, rects[a], rects[b], edge.view.points, not is_label_end, hot)
        for label, text, hot in labels.values():
            x, y, w, _ = rects[label.data]
            for row, line in enumerate(text):
                canvas.text(x + (w - len(line)) // 2, y + row, line, "hot" if hot else "label")
        for cid, block in blocks.items():
            x, y, _, _ = rects[cid]
            canvas.blit(block, x, y)
        return canvas

    def _place(
        self,
        vertices: dict[str, Vertex],
        labels: dict[tuple[str, str], tuple[Vertex, list[str], bool]],
        edges: list[Edge],
    ) -> list[tuple[float, float, float, float, Vertex]]:
        """Where grandalf puts each box and label, and the points of each edge. Two thirds
        of drawing a large chart, and the same for every drawing of one screen whose boxes
        keep their sizes (a focus, a lit state, a highlighted transition: styles only),
        so it is kept for the next."""
        label_vertices = [v for v, _, _ in labels.values()]
        key: tuple[object, ...] = (
            tuple((v.data, v.view.w, v.view.h) for v in [*vertices.values(), *label_vertices]),
            tuple((e.v[0].data, e.v[1].data) for e in edges),
        )
        by_data = {v.data: v for v in [*vertices.values(), *label_vertices]}
        kept = _PLACED.get(key)
        if kept is not None:
            boxes, points = kept
            for edge, edge_points in zip(edges, points, strict=True):
                edge.view.points = list(edge_points)
            return [(x, y, w, h, by_data[data]) for x, y, w, h, data in boxes]
        graph = Graph([*vertices.values(), *label_vertices], edges)
        placed: list[tuple[float, float, float, float, Vertex]] = []
        offset = 0.0
        for component in graph.C:
            layout = SugiyamaLayout(component)
            layout.xspace, layout.yspace = X_GAP, Y_GAP
            layout.route_edge = route_with_lines
            layout.init_all()
            layout.draw()
            vs = list(component.sV)
            left = min(v.view.xy[0] - v.view.w / 2 for v in vs)
            right = max(v.view.xy[0] + v.view.w / 2 for v in vs)
            for v in vs:
                x, y = v.view.xy
                placed.append((x - left + offset, y, v.view.w, v.view.h, v))
            for e in component.sE:
                e.view.points = [(x - left + offset, y) for x, y in getattr(e.view, "points", [])]
            offset += right - left + X_GAP
        _PLACED.put(
            key,
            (
                [(x, y, w, h, v.data) for x, y, w, h, v in placed],
                [list(getattr(e.view, "points", [])) for e in edges],
            ),
        )
        return placed

    def _side_by_side(self, state: State, blocks: dict[str, Canvas]) -> Canvas:
        width = sum(b.width for b in blocks.values()) + X_GAP * max(0, len(blocks) - 1)
        canvas = Canvas(max(width, 1), max((b.height for b in blocks.values()), default=1))
        x = 0
        for block in blocks.values():
            canvas.blit(block, x, 0)
            x += block.width + X_GAP
        return canvas

    @staticmethod
    def _route(
        canvas: Canvas,
        start: tuple[int, int, int, int],
        end: tuple[int, int, int, int],
        points: list[tuple[float, float]],
        arrow: bool,
        hot: bool,
    ) -> None:
        """From `start`'s border to `end`'s, through the layout's bends: vertical legs,
        horizontal steps between them (the boxes, drawn after, cover the border cells);
        an arrowhead before the end when `arrow`."""
        sx, sy, sw, sh = start
        ex, ey, ew, eh = end
        down = ey + eh / 2 >= sy + sh / 2
        bends = [(round(x), round(y)) for x, y in points[1:-1]]

        def within(x: int, left: int, width: int) -> int:
            return max(left + 1, min(left + width - 2, x)) if width >= 3 else left

        first_x = within(bends[0][0] if bends else ex + ew // 2, sx, sw)
        first = (first_x, sy + sh - 1 if down else sy)
        last_x = within(bends[-1][0] if bends else first_x, ex, ew)
        last = (last_x, ey if down else ey + eh - 1)
        path = [first, *bends, last]
        style = "hot" if hot else "edge"
        legs = list(itertools.pairwise(path))
        for index, ((x1, y1), (x2, y2)) in enumerate(legs):
            # Turn right after leaving a box and right before entering one (the bends
            # are in the layout's free columns; a box's own column may be another's).
            toward = 1 if y2 >= y1 else -1
            if len(legs) > 1 and index == 0:
                middle = y1 + toward
            elif len(legs) > 1 and index == len(legs) - 1:
                middle = y2 - toward
            else:
                middle = (y1 + y2) // 2 if abs(y2 - y1) > 1 else (y2 if down else y1)
            canvas.line((x1, y1), (x1, middle), style)
            canvas.line((x1, middle), (x2, middle), style)
            canvas.line((x2, middle), (x2, y2), style)
        if arrow:
            canvas.put(last_x, ey - 1 if down else ey + eh, "▼" if down else "▲", style)


# How the dashboard and the SVG colour each style (Rich style strings).
STYLES = {
    "active": "bold green",
    "focus": "bold reverse",
    "edge": "bright_black",
    "hot": "bold yellow",
    "label": "cyan",
    "dim": "dim",
}


def rich_text(drawing: Drawing) -> Text:
    """The drawing as Rich text, coloured by `STYLES`."""
    text = Text(no_wrap=True, overflow="ignore")
    for number, (line, spans) in enumerate(zip(drawing.lines, drawing.spans, strict=True)):
        if number:
            text.append("\n")
        start = len(text)
        text.append(line)
        for begin, end, style in spans:
            if STYLES.get(style):
                text.stylize(STYLES[style], start + begin, start + end)
    return text


def svg(drawing: Drawing, title: str) -> str:
    """The drawing as an SVG picture of a terminal (Rich's), coloured as the dashboard's."""
    import io

    from rich.console import Console

    console = Console(record=True, width=max(drawing.width, 20), file=io.StringIO())
    console.print(rich_text(drawing))
    return console.export_svg(title=safe(title))

"""A statechart as a drawing: states as boxes, compound states around their children,
parallel regions side by side, transitions as arrows labelled with their event.

Where the chart comes from: a version's definition (the local server's
`GET /machines/M/v/V/definition`, or a bundle evaluated in an engine worker), or, when
neither is there, the states and events a history shows (`from_history`), which says so.

Layout: each compound state's children are laid out by grandalf's Sugiyama (layered)
layout, innermost first, so that a compound state is a box of known size in its parent's
layout. A transition is drawn in the innermost state that holds both its ends, between the
children of that state that hold them; its label is a vertex of its own in the layout (the
usual way to keep labels clear of boxes and of each other). Self-transitions are listed in
their state's box. Why grandalf: pure Python, maintained enough (0.8), and it does the one
hard part (layering, crossing reduction, coordinates, routes through dummy vertices);
netext renders networkx graphs with Rich but knows no nesting, and Graphviz is a binary.

The drawing is plain text plus style spans (`Drawing`), so that the dashboard colours it
and the CLI prints it; every name in it came from machine code and goes through `safe`.

Why one module of ~500 lines: the model, the three output formats and the layout share
the same tree walk and names; split, each part would restate the tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smb_tui.core.text import safe

MAX_STATES = 400  # past this, a chart is not drawn (a layout would take too long)
MAX_DEPTH = 16


class ChartTooLarge(Exception):
    """The chart has more states, or deeper nesting, than can be drawn."""


@dataclass
class State:
    id: str
    key: str
    type: str = "atomic"  # atomic, compound, parallel, final, history
    initial: str | None = None
    tags: list[str] = field(default_factory=list)
    invokes: list[str] = field(default_factory=list)
    children: list[State] = field(default_factory=list)
    parent: State | None = None

    @property
    def is_initial(self) -> bool:
        return self.parent is not None and self.parent.initial == self.key

    def path(self) -> list[State]:
        chain: list[State] = []
        node: State | None = self
        while node is not None and node.parent is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


@dataclass(frozen=True)
class Transition:
    source: str  # state ids
    target: str
    event: str | None  # None: eventless or delayed
    guard: str | None = None
    delay: int | str | None = None  # ms, or a named delay

    @property
    def kind(self) -> str:
        """The event type a history records for it (what counts and highlights match)."""
        if self.delay is not None:
            return f"xstate.after({self.delay})"
        return self.event or ""

    def label(self) -> str:
        if isinstance(self.delay, str):
            text = f"after {self.delay}"
        elif self.delay is not None:
            text = f"after {_duration(self.delay)}"
        else:
            text = self.event or "always"
        return f"{text} [{self.guard}]" if self.guard else text


@dataclass
class Chart:
    root: State
    transitions: list[Transition]
    by_id: dict[str, State]
    source: str  # "definition" or "history"

    def active(self, value: Any) -> set[str]:
        """The ids of the states a state value says are active."""
        found: set[str] = set()

        def walk(node: State, value: Any) -> None:
            keys = (
                [value]
                if isinstance(value, str)
                else list(value)
                if isinstance(value, dict)
                else []
            )
            for key in keys:
                child = next((c for c in node.children if c.key == key), None)
                if child is None:
                    continue
                found.add(child.id)
                if isinstance(value, dict):
                    walk(child, value[key])

        walk(self.root, value)
        return found


def _delay(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, int) else str(value)


def _duration(ms: int) -> str:
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}min"
    if ms % 1000 == 0 and ms:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def from_definition(definition: Any) -> Chart:
    """A chart from a `StatechartDefinition` (the client's model) or its JSON."""
    raw = definition.model_dump() if hasattr(definition, "model_dump") else definition
    by_id: dict[str, State] = {}
    transitions: list[Transition] = []

    def build(node: Mapping[str, Any], parent: State | None, depth: int) -> State:
        if depth > MAX_DEPTH:
            raise ChartTooLarge(f"states nested deeper than {MAX_DEPTH}")
        if len(by_id) >= MAX_STATES:
            raise ChartTooLarge(f"more than {MAX_STATES} states")
        state = State(
            str(node.get("id")),
            str(node.get("key")),
            str(node.get("type") or "atomic"),
            None if node.get("initial") is None else str(node.get("initial")),
            [str(t) for t in node.get("tags") or []],
            [str(i) for i in node.get("invokes") or []],
            parent=parent,
        )
        by_id[state.id] = state
        state.children = [build(child, state, depth + 1) for child in node.get("states") or []]
        for t in node.get("transitions") or []:
            targets = [str(x) for x in t.get("targets") or []] or [state.id]
            for target in targets:
                transitions.append(
                    Transition(
                        state.id,
                        target,
                        None if t.get("event") is None else str(t.get("event")),
                        None if t.get("guard") is None else str(t.get("guard")),
                        _delay(t.get("delay")),
                    )
                )
        return state

    root = build(raw["root"], None, 0)
    known = [t for t in transitions if t.target in by_id]
    return Chart(root, known, by_id, "definition")


def from_history(rows: Iterable[tuple[str, Any]]) -> Chart:
    """A flat chart of what a history shows, oldest row first: (event type, state value)
    pairs. Each state value seen is a state; each change between rows a transition."""
    root = State("(history)", "(history)", "compound")
    by_id: dict[str, State] = {}
    pairs: dict[tuple[str, str, str], None] = {}
    previous: str | None = None
    for event, value in rows:
        name = _value_name(value)
        if name not in by_id:
            if len(by_id) >= MAX_STATES:
                raise ChartTooLarge(f"more than {MAX_STATES} states")
            by_id[name] = State(name, name, parent=root)
            root.children.append(by_id[name])
            root.initial = root.initial or name
        if previous is not None and event != "xstate.init":
            pairs[(previous, name, event)] = None
        previous = name
    transitions = [Transition(s, t, e) for s, t, e in pairs]
    return Chart(root, transitions, by_id, "history")


def _value_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = [
            f"{k}.{_value_name(v)}" if _value_name(v) else str(k) for k, v in sorted(value.items())
        ]
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"
    return json.dumps(value)


# --- Mermaid and DOT


def _mermaid_id(state: State) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", state.id) or "_"


def mermaid(chart: Chart) -> str:
    """Mermaid's stateDiagram-v2: nested states, parallel regions (`--`), initial and
    final markers, every transition with its label."""
    lines = ["stateDiagram-v2"]

    def body(node: State, indent: str) -> None:
        if node.initial is not None:
            first = next((c for c in node.children if c.key == node.initial), None)
            if first is not None:
                lines.append(f"{indent}[*] --> {_mermaid_id(first)}")
        for index, child in enumerate(node.children):
            if node.type == "parallel" and index:
                lines.append(f"{indent}--")
            name = _mermaid_id(child)
            lines.append(f'{indent}state "{_quoted(child.key)}" as {name}')
            if child.children:
                lines.append(f"{indent}state {name} {{")
                body(child, indent + "    ")
                lines.append(f"{indent}}}")
            if child.type == "final":
                lines.append(f"{indent}{name} --> [*]")

    body(chart.root, "    ")
    for t in chart.transitions:
        source, target = chart.by_id[t.source], chart.by_id[t.target]
        lines.append(f"    {_mermaid_id(source)} --> {_mermaid_id(target)} : {_quoted(t.label())}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return safe(text).replace('"', "'").replace(":", "\u2236").replace(";", ",")  # ratio sign


def dot(chart: Chart) -> str:
    """Graphviz DOT: compound states as clusters (an invisible point stands for each, so
    that transitions from or to them have an end)."""
    lines = ["digraph statechart {", "  compound=true; node [shape=box, style=rounded];"]

    def esc(text: str) -> str:
        return safe(text).replace("\\", "\\\\").replace('"', '\\"')

    def body(node: State, indent: str) -> None:
        for child in node.children:
            if child.children:
                lines.append(f'{indent}subgraph "cluster_{esc(child.id)}" {{')
                lines.append(f'{indent}  label="{esc(child.key)}";')
                lines.append(f'{indent}  "{esc(child.id)}" [shape=point, style=invis];')
                body(child, indent + "  ")
                lines.append(f"{indent}}}")
            else:
                shape = ", peripheries=2" if child.type == "final" else ""
                lines.append(f'{indent}"{esc(child.id)}" [label="{esc(child.key)}"{shape}];')

    body(chart.root, "  ")
    for t in chart.transitions:
        lines.append(f'  "{esc(t.source)}" -> "{esc(t.target)}" [label="{esc(t.label())}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"

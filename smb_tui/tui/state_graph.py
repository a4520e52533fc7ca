"""The states an instance has been in and the events that moved it between them, with
counts, from the transitions loaded: "is it stuck in a loop?" at a glance. No Textual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.text import Text

from smb_tui.core.describe import relative_time
from smb_tui.core.history_buffer import Row
from smb_tui.tui.palette import tone


@dataclass
class StateNode:
    name: str  # the state as one line, already safe
    visits: int = 0  # transitions that ended here
    last_at: float = 0.0
    out: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event, to): count


@dataclass
class StateGraph:
    nodes: dict[str, StateNode]
    current: str | None
    transitions: int

    def lines(self, now: float) -> list[Text]:
        """The graph as an arrow list: each state (current first, then most visited), and
        under it the events that left it, most frequent first; a loop back is marked ↺."""
        order = sorted(
            self.nodes.values(),
            key=lambda node: (node.name != self.current, -node.visits, node.name),
        )
        out: list[Text] = []
        for node in order:
            line = Text("● " if node.name == self.current else "○ ", tone("ok", "bold"))
            line.append(node.name, "bold" if node.name == self.current else "")
            if node.name == self.current:
                line.append("  (now)", tone("ok"))
            line.append(
                f"  {node.visits:,} time{'s' if node.visits != 1 else ''}, last "
                f"{relative_time(now - node.last_at) if node.last_at else '?'}",
                "dim",
            )
            out.append(line)
            for (event, target), count in node.out.most_common():
                edge = Text("    ")
                edge.append(event, tone("accent", "bold"))
                edge.append(f" x{count:,} ", "dim")
                if target == node.name:
                    edge.append("↺ stays", tone("warn"))
                else:
                    edge.append("→ ")
                    edge.append(target)
                out.append(edge)
        return out


def graph_of(rows: Sequence[Row], current: str | None = None) -> StateGraph:
    """From rows newest first (as the history holds them)."""
    nodes: dict[str, StateNode] = {}
    previous: Row | None = None
    for row in reversed(rows):  # oldest first: each row moved from the one before
        node = nodes.setdefault(row.state, StateNode(row.state))
        node.visits += 1
        node.last_at = max(node.last_at, row.at)
        if previous is not None:
            nodes[previous.state].out[(row.event_type, row.state)] += 1
        previous = row
    newest = rows[0].state if rows else None
    return StateGraph(nodes, current or newest, len(rows))


__all__ = ["StateGraph", "StateNode", "graph_of"]

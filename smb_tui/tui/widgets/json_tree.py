"""JSON as a foldable tree. Labels are Text, so server data never becomes markup.

A folded object or array gets its children only when it is opened, so a 400 kB
context costs what is on screen, not what is in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from smb_tui.core.text import safe
from smb_tui.tui.palette import tone

MAX_CHILDREN = 500
MAX_SCALAR = 200  # characters of one value shown; copying gives all of it


@dataclass(frozen=True)
class Folded:
    """A container whose children have not been added yet."""

    value: Any


def _scalar(value: Any) -> Text:
    text = safe(json.dumps(value, ensure_ascii=False))
    if len(text) > MAX_SCALAR:
        text = text[: MAX_SCALAR - 1] + "…"
    if isinstance(value, str):
        return Text(text, style=tone("ok"))
    if isinstance(value, bool) or value is None:
        return Text(text, style=tone("done", "italic"))
    return Text(text, style=tone("accent"))


def _items(value: dict[str, Any] | list[Any]) -> list[tuple[str, Any]]:
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    return [(str(key), item) for key, item in pairs]


class JsonTree(Tree[Any]):
    """A tree of one JSON value's keys; what you opened stays open when it is shown anew."""

    def __init__(self, label: Text | str, *, id: str | None = None) -> None:
        super().__init__(label, id=id)
        self._paths: dict[int, tuple[str, ...]] = {}  # node id -> keys from the top
        self._opened_paths: set[tuple[str, ...]] = set()
        self._folded_paths: set[tuple[str, ...]] = set()

    def show(self, value: Any, expand: int = 2) -> None:
        """Replace what is shown with `value`, opened `expand` levels deep."""
        self.clear()
        self._paths = {}
        self.root.expand()
        if isinstance(value, dict) and not value:
            self.root.add_leaf(Text("(empty)", style="dim italic"))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._add(self.root, (str(key),), item, expand)
        else:
            self._add(self.root, (), value, expand)

    def _add(self, node: TreeNode[Any], path: tuple[str, ...], value: Any, expand: int) -> None:
        key = path[-1] if path else None
        label = Text(safe(key), style="bold") if key is not None else Text()
        if isinstance(value, dict | list):
            brackets = "{…}" if isinstance(value, dict) else "[…]"
            if key is None:
                label = Text(brackets, style="dim")
            else:
                label.append(f" {brackets} {len(value)}", style="dim")
            child = node.add(label, data=Folded(value), allow_expand=bool(value))
            self._paths[child.id] = path
            opened = path in self._opened_paths or (expand > 0 and path not in self._folded_paths)
            if opened:
                self._unfold(child, expand - 1)
                child.expand()
        else:
            if key is not None:
                label.append(": ")
            label.append_text(_scalar(value))
            node.add_leaf(label, data=value)

    def _unfold(self, node: TreeNode[Any], expand: int) -> None:
        folded = node.data
        if not isinstance(folded, Folded):
            return
        node.data = folded.value
        path = self._paths.get(node.id, ())
        items = _items(folded.value)
        for key, item in items[:MAX_CHILDREN]:
            self._add(node, (*path, key), item, expand)
        if len(items) > MAX_CHILDREN:
            node.add_leaf(Text(f"… {len(items) - MAX_CHILDREN} more (x copies all)", style="dim"))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Any]) -> None:
        self._unfold(event.node, 0)
        if (path := self._paths.get(event.node.id)) is not None:
            self._opened_paths.add(path)
            self._folded_paths.discard(path)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Any]) -> None:
        if (path := self._paths.get(event.node.id)) is not None:
            self._folded_paths.add(path)
            self._opened_paths.discard(path)

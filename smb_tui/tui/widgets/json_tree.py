"""JSON as a foldable tree. Labels are Text, so server data never becomes markup."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

MAX_CHILDREN = 500


def _scalar(value: Any) -> Text:
    if isinstance(value, str):
        return Text(json.dumps(value, ensure_ascii=False), style="green")
    if isinstance(value, bool) or value is None:
        return Text(json.dumps(value), style="italic magenta")
    return Text(json.dumps(value), style="cyan")


def add_json(node: TreeNode[Any], key: str | None, value: Any, expand: int) -> None:
    """Add `value` under `node`, expanded `expand` levels deep."""
    label = Text(key, style="bold") if key is not None else Text()
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        brackets = "{…}" if isinstance(value, dict) else "[…]"
        if key is None:
            label = Text(brackets, style="dim")
        else:
            label.append(f" {brackets} {len(items)}", style="dim")
        child = node.add(label, expand=expand > 0, data=value)
        for item_key, item in items[:MAX_CHILDREN]:
            add_json(child, str(item_key), item, expand - 1)
        if len(items) > MAX_CHILDREN:
            child.add_leaf(Text(f"… {len(items) - MAX_CHILDREN} more", style="dim"))
    else:
        if key is not None:
            label.append(": ")
        label.append_text(_scalar(value))
        node.add_leaf(label, data=value)


def show_json(tree: Tree[Any], value: Any, expand: int = 2) -> None:
    """Replace the tree's content with `value`'s keys at the top level."""
    tree.clear()
    tree.root.expand()
    if isinstance(value, dict):
        if not value:
            tree.root.add_leaf(Text("(empty)", style="dim italic"))
        for key, item in value.items():
            add_json(tree.root, str(key), item, expand)
    else:
        add_json(tree.root, None, value, expand)

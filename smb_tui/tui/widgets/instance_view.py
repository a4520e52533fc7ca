"""The instance pane: state value as a tree, tags, done, context, and the admin view."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static, Tree

from smb_tui.api.models import AdministrativeInstanceState, State, StateValue
from smb_tui.tui.widgets.json_tree import JsonTree
from smb_tui.tui.widgets.machine_list import version_label


def show_state_value(tree: Tree[Any], value: StateValue) -> None:
    """The state value as nested states; active leaves marked ●."""
    tree.clear()
    tree.root.expand()

    def add(node: Any, value: StateValue) -> None:
        if isinstance(value, str):
            node.add_leaf(Text("● ", style="bold green") + Text(value, style="bold"))
            return
        for key, child in value.items():
            if isinstance(child, dict) and not child:
                node.add_leaf(Text("● ", style="bold green") + Text(key, style="bold"))
                continue
            parallel = isinstance(child, dict) and len(child) > 1
            label = Text(key) + (Text(" (parallel)", style="dim") if parallel else Text())
            add(node.add(label, expand=True), child)

    add(tree.root, value)


class InstanceView(Vertical, can_focus=False):
    DEFAULT_CSS = """
    InstanceView { height: 1fr; }
    InstanceView > #instance-summary { height: auto; max-height: 3; padding: 0 1; }
    InstanceView > #instance-error { height: auto; color: $text-error; padding: 0 1; }
    InstanceView Horizontal { height: 1fr; }
    InstanceView Tree { width: 1fr; height: 1fr; border: none; padding: 0 1; }
    InstanceView #state-tree { width: 2fr; }
    InstanceView #context-tree { width: 3fr; }
    """
    full_context: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.machine: str | None = None
        self.instance: str | None = None
        self.state: State | None = None
        self.admin: AdministrativeInstanceState | None = None
        self.admin_note: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text("No instance open. Pick a machine, then an instance.", style="dim"),
            id="instance-summary",
        )
        yield Static("", id="instance-error")
        with Horizontal():
            state_tree: Tree[Any] = Tree(Text("state"), id="state-tree")
            state_tree.show_root = False
            yield state_tree
            context_tree = JsonTree(Text("context"), id="context-tree")
            context_tree.show_root = False
            yield context_tree

    def show(
        self,
        machine: str,
        instance: str,
        state: State,
        admin: AdministrativeInstanceState | None,
        admin_note: str | None,
    ) -> None:
        unchanged = (machine, instance, state, admin) == (
            self.machine,
            self.instance,
            self.state,
            self.admin,
        )
        self.machine, self.instance, self.state = machine, instance, state
        self.admin, self.admin_note = admin, admin_note
        self.show_error(None)
        if not unchanged:  # a redraw would fold what the user opened
            self._draw()

    def clear(self) -> None:
        self.machine = self.instance = None
        self.state, self.admin = None, None
        self.query_one("#state-tree", Tree).clear()
        self.query_one("#context-tree", Tree).clear()
        self.query_one("#instance-summary", Static).update(
            Text("No instance open. Pick a machine, then an instance.", style="dim")
        )

    def show_error(self, message: str | None) -> None:
        error = self.query_one("#instance-error", Static)
        error.update(Text(f"⚠ {message} (r to retry)") if message else Text())
        error.display = message is not None

    def watch_full_context(self) -> None:
        if self.state is not None:
            self._draw()

    def _draw(self) -> None:
        state, admin = self.state, self.admin
        assert state is not None
        # The pane's title names the instance; this line says how it is.
        parts: list[Text] = []
        if admin is not None:
            paused = admin.status == "paused"
            parts.append(
                Text(
                    "‖ paused" if paused else "● running",
                    style="bold yellow" if paused else "bold green",
                )
            )
            version = Text(f"version {version_label(admin.machine_version)}", style="dim")
            if admin.desired_machine_version is not None:
                version.append(
                    f" → {version_label(admin.desired_machine_version)} next event", style="yellow"
                )
            parts.append(version)
        if state.done:
            parts.append(Text("✔ done", style="bold magenta"))
        if state.tags:
            parts.append(Text("tags: ", style="dim") + Text(", ".join(state.tags), style="cyan"))
        summary = Text("  ").join(parts)
        if admin is None and self.admin_note:
            summary.append(f"\n{self.admin_note}", style="dim italic")
        self.query_one("#instance-summary", Static).update(summary)
        show_state_value(self.query_one("#state-tree", Tree), state.state)
        context_tree = self.query_one("#context-tree", JsonTree)
        if self.full_context and admin is not None:
            context_tree.show({"context (full)": admin.context}, expand=2)
        else:
            context_tree.show({"publicContext": state.public_context}, expand=2)

    def state_json(self) -> str | None:
        if self.state is None:
            return None
        return json.dumps(self.state.model_dump(by_alias=True), indent=2, ensure_ascii=False)

    def context_json(self) -> str | None:
        if self.state is None:
            return None
        if self.full_context and self.admin is not None:
            return json.dumps(self.admin.context, indent=2, ensure_ascii=False)
        return json.dumps(self.state.public_context, indent=2, ensure_ascii=False)

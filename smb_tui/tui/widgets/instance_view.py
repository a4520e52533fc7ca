"""The instance pane: state value as a tree, tags, done, context, and the admin view.

It draws the open instance's `InstanceSnapshot` (bound from the dashboard) and says
when what it shows is loading, stale, gone or failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static, Tree

from smb_tui.core.describe import pretty_json, version_label
from smb_tui.core.instance_session import InstanceSnapshot
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone
from smb_tui.tui.widgets.json_tree import JsonTree

if TYPE_CHECKING:
    from smb_tui.api.models import StateValue

NOTHING_OPEN = "No instance open. Pick a machine, then an instance."


def show_state_value(tree: Tree[Any], value: StateValue | None) -> None:
    """The state value as nested states; active leaves marked ●."""
    tree.clear()
    tree.root.expand()
    if value is None:
        return

    def add(node: Any, value: StateValue) -> None:
        if isinstance(value, str):
            node.add_leaf(Text("● ", style=tone("ok", "bold")) + Text(safe(value), style="bold"))
            return
        for key, child in value.items():
            if isinstance(child, dict) and not child:
                node.add_leaf(Text("● ", style=tone("ok", "bold")) + Text(safe(key), style="bold"))
                continue
            parallel = isinstance(child, dict) and len(child) > 1
            label = Text(safe(key)) + (Text(" (parallel)", style="dim") if parallel else Text())
            add(node.add(label, expand=True), child)

    add(tree.root, value)


def describe_phase(snapshot: InstanceSnapshot) -> Text | None:
    """What the pane says about how current it is; None when it is simply current."""
    name = safe(snapshot.name or "")
    if snapshot.phase == "loading":
        return Text(f"⧗ loading {name}…", style=tone("warn", "italic"))
    if snapshot.phase == "not-found":
        return Text(
            f"✖ no such instance: {name} (deleted, or a wrong name)", style=tone("error", "bold")
        )
    if snapshot.phase == "error":
        return Text(f"⚠ {safe(snapshot.error)} (r to retry)", style=tone("error", "bold"))
    if snapshot.phase == "ready" and snapshot.stale_since is not None:
        since = datetime.fromtimestamp(snapshot.stale_since).strftime("%H:%M:%S")
        return Text(
            f"⚠ stale since {since}: no live updates ({snapshot.live})", style=tone("warn", "bold")
        )
    if snapshot.phase == "stale":
        at = ""
        if snapshot.state is not None and snapshot.state.ts:
            at = f" from {datetime.fromtimestamp(snapshot.state.ts / 1000):%H:%M:%S}"
        return Text(
            f"⚠ stale: showing the state read{at}; {safe(snapshot.error)} (r to retry)",
            style=tone("warn", "bold"),
        )
    return None


class InstanceView(Vertical, can_focus=False):
    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    InstanceView { height: 1fr; }
    InstanceView > #instance-summary { height: auto; max-height: 3; padding: 0 1; }
    InstanceView Horizontal { height: 1fr; }
    InstanceView Tree { width: 1fr; height: 1fr; border: none; padding: 0 1; }
    InstanceView #state-tree { width: 2fr; }
    InstanceView #context-tree { width: 3fr; }
    """
    full_context: reactive[bool] = reactive(False)
    snapshot: reactive[InstanceSnapshot] = reactive(InstanceSnapshot, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[object, ...] | None = None

    @property
    def state(self) -> Any:
        return self.snapshot.state

    @property
    def admin(self) -> Any:
        return self.snapshot.admin

    def compose(self) -> ComposeResult:
        yield Static(Text(NOTHING_OPEN, style="dim"), id="instance-summary")
        with Horizontal():
            state_tree: Tree[Any] = Tree(Text("state"), id="state-tree")
            state_tree.show_root = False
            yield state_tree
            context_tree = JsonTree(Text("context"), id="context-tree")
            context_tree.show_root = False
            yield context_tree

    def watch_snapshot(self) -> None:
        self._draw()

    def watch_full_context(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        snapshot, full = self.snapshot, self.full_context
        self.query_one("#instance-summary", Static).update(self._summary(snapshot))
        # Redrawing the trees would fold what the user opened: only when they change.
        context = self._shown_context(snapshot, full)
        drawn = (snapshot.name, snapshot.state, context)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        state = snapshot.state
        show_state_value(self.query_one("#state-tree", Tree), state.state if state else None)
        context_tree = self.query_one("#context-tree", JsonTree)
        if context is None:
            context_tree.clear()
        else:
            context_tree.show(context, expand=2)

    @staticmethod
    def _shown_context(snapshot: InstanceSnapshot, full: bool) -> dict[str, Any] | None:
        state, admin = snapshot.state, snapshot.admin
        if state is None:
            return None
        if full and admin is not None:
            key = "context (full)" if snapshot.admin_current else "context (full, re-reading…)"
            return {key: admin.context}
        return {"publicContext": state.public_context}

    def _summary(self, snapshot: InstanceSnapshot) -> Text:
        if snapshot.name is None:
            return Text(NOTHING_OPEN, style="dim")
        parts: list[Text] = []
        phase = describe_phase(snapshot)
        if phase is not None:
            parts.append(phase)
        admin, state = snapshot.admin, snapshot.state
        if admin is not None and state is not None:
            paused = admin.status == "paused"
            parts.append(
                Text(
                    "‖ paused" if paused else "● running",
                    style=tone("warn", "bold") if paused else tone("ok", "bold"),
                )
            )
            version = Text(f"version {safe(version_label(admin.machine_version))}", style="dim")
            if admin.desired_machine_version is not None:
                label = safe(version_label(admin.desired_machine_version))
                version.append(f" → {label} next event", style=tone("warn"))
            parts.append(version)
        if state is not None and state.done:
            parts.append(Text("✔ done", style=tone("done", "bold")))
        if state is not None and state.tags:
            tags = Text(", ".join(safe(tag) for tag in state.tags), style=tone("accent"))
            parts.append(Text("tags: ", style="dim") + tags)
        summary = Text("  ").join(parts)
        if admin is None and snapshot.admin_note and state is not None:
            summary.append(f"\n{safe(snapshot.admin_note)}", style="dim italic")
        return summary

    def state_json(self) -> str | None:
        if self.snapshot.state is None:
            return None
        state = self.snapshot.state.model_dump(by_alias=True)
        return pretty_json(state)

    def context_json(self) -> str | None:
        context = self._shown_context(self.snapshot, self.full_context)
        if context is None:
            return None
        return pretty_json(next(iter(context.values())))

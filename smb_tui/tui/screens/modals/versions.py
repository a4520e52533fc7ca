"""A machine's versions: the list, an instance's desired version, deploying one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    OptionList,
    Static,
)
from textual.widgets.option_list import Option

from smb_tui.core.describe import (
    version_label,
)
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone
from smb_tui.tui.screens.modals.base import Modal

if TYPE_CHECKING:
    from smb_tui.api.models import MachineVersionInfo


def version_option(
    version: MachineVersionInfo,
    versions: Sequence[MachineVersionInfo],
    current: str | None,
    running: str | None = None,
    desired: str | None = None,
) -> Option:
    """A version by its label, with its id, and marked current, newest, running or next."""
    text = Text(safe(version_label(version)), style="bold")
    marks = []
    if version.id == current:
        marks.append("current")
    if versions and max(versions, key=lambda v: v.created_at).id == version.id:
        marks.append("newest")
    if version.id == running:
        marks.append("this instance runs it")
    if version.id == desired:
        marks.append("it runs this from its next event")
    if marks:
        text.append(f"  ({', '.join(marks)})", style=tone("ok"))
    text.append(f"  {safe(version.id)}  {safe(version.created_at)}", style="dim")
    return Option(text)  # found by its position: an id is never made from server text


def unique_versions(versions: Sequence[MachineVersionInfo]) -> list[MachineVersionInfo]:
    """Each version id once, as the server should have sent them."""
    seen: dict[str, MachineVersionInfo] = {}
    for version in versions:
        seen.setdefault(version.id, version)
    return list(seen.values())


class ChooseVersion(Modal[str | None]):
    """The version an instance should move to at its next settled event."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        instance: str,
        versions: list[MachineVersionInfo],
        current: str | None = None,
        running: str | None = None,
    ) -> None:
        super().__init__()
        self.instance = instance
        self.versions = unique_versions(versions)
        self.current = current
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Desired version for {safe(self.instance)}", style="bold"), classes="title"
            )
            yield OptionList(
                *[
                    version_option(v, self.versions, self.current, self.running)
                    for v in self.versions
                ]
            )
            yield Static(Text("Enter picks · Esc cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.versions[event.option_index].id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class VersionsScreen(Modal[str | None]):
    """A machine's versions, newest first: which is current, which the open instance runs
    and which it will run from its next event. `d` answers "deploy": deploy a file."""

    BINDINGS = [
        Binding("escape,q,V", "dismiss", "Close"),
        Binding("d", "deploy", "Deploy a file as a new version"),
    ]

    def action_deploy(self) -> None:
        self.dismiss("deploy")

    def __init__(
        self,
        machine: str,
        versions: list[MachineVersionInfo],
        current: str | None,
        running: str | None = None,
        desired: str | None = None,
    ) -> None:
        super().__init__()
        self.machine = machine
        self.versions = unique_versions(versions)
        self.marks = (current, running, desired)

    def compose(self) -> ComposeResult:
        with Vertical():
            count = len(self.versions)
            title = Text(f"Versions of {safe(self.machine)}", style="bold")
            title.append(f"  {count} version{'s' if count != 1 else ''}", style="dim")
            yield Static(title, classes="title")
            current, running, desired = self.marks
            yield OptionList(
                *[
                    version_option(v, self.versions, current, running, desired)
                    for v in self.versions
                ],
                id="versions",
            )
            yield Static(
                Text(
                    "d deploys a file as a new version · U moves the instance to another"
                    " version · Esc close",
                    style="dim",
                )
            )


@dataclass(frozen=True)
class Deploy:
    """What the deploy dialog asks for: a bundle's code, its label, make it current?"""

    path: Path
    code: str
    client_info: str
    make_current: bool


class DeployVersion(Modal[Deploy | None]):
    """A bundle file (an ES module, as smply or `smb-tui deploy` builds it) to deploy as
    a new version of the machine. The file is read here: one that cannot be read is
    said in the dialog, and nothing is sent."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "deploy", "Deploy"),  # after the keys typed before it: see EventComposer
    ]

    def __init__(self, machine: str) -> None:
        super().__init__()
        self.machine = machine

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Deploy a new version of {safe(self.machine)}", style="bold"),
                classes="title",
            )
            yield Input(placeholder="bundle file, e.g. dist/door.js", id="deploy-path")
            yield Input(placeholder="label (client info), e.g. a git sha", id="deploy-info")
            yield Checkbox("make it current (new instances start on it)", id="deploy-current")
            yield Static("", classes="error", id="deploy-error")
            yield Static(Text("Enter or Ctrl+S deploys · Tab moves · Esc cancels", "dim"))
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Deploy", id="deploy", variant="primary")

    @on(Button.Pressed, "#deploy")
    @on(Input.Submitted)
    def action_deploy(self) -> None:
        given = self.query_one("#deploy-path", Input).value.strip()
        error = ""
        code = ""
        path = Path(given).expanduser()
        if not given:
            error = "name the bundle file to deploy"
        else:
            try:
                code = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as failure:
                error = f"cannot read {given}: {getattr(failure, 'strerror', None) or failure}"
        if error:
            self.query_one("#deploy-error", Static).update(Text(f"✖ {safe(error)}"))
            return
        self.dismiss(
            Deploy(
                path,
                code,
                self.query_one("#deploy-info", Input).value.strip(),
                self.query_one("#deploy-current", Checkbox).value,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

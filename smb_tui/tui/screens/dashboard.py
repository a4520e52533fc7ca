"""The main screen: machines, instances, the open instance, the composer, the history.

Data comes down from the client into the panes; what the user does comes up as
messages, and this screen turns them into client calls in workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker

from smb_tui.api.auth import KeyCredentials
from smb_tui.api.client import Reconnected, StateBackedClient
from smb_tui.api.errors import MissingScope, StateBackedError
from smb_tui.api.models import AdministrativeInstanceState, InstanceUpdate, State
from smb_tui.config import Connection
from smb_tui.tui.screens.modals import (
    ChooseVersion,
    HelpScreen,
    NewInstance,
    TransitionDetail,
    TypedConfirm,
)
from smb_tui.tui.widgets.event_composer import EventComposer
from smb_tui.tui.widgets.instance_list import InstanceList, InstanceOptions
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.machine_list import MachineList
from smb_tui.tui.widgets.transition_history import TransitionHistory

LiveStatus = Literal["live", "reconnecting", "offline"]
STATUS_TEXT = {"live": "● live", "reconnecting": "↻ reconnecting", "offline": "○ offline"}


class DashboardScreen(Screen[None]):
    CSS_PATH = "dashboard.tcss"
    # Short descriptions fit the footer at 80 columns; the help screen adds the tooltips.
    BINDINGS = [
        Binding("question_mark", "help", "Keys", tooltip="All keys"),  # first: 80 columns
        Binding("n", "new_instance", "New", tooltip="Create an instance of this machine"),
        Binding("p", "pause_resume", "Pause", tooltip="Pause or resume the instance"),
        Binding("d", "delete_instance", "Delete", tooltip="Delete the instance and history"),
        Binding("u", "desired_version", "Upgrade", tooltip="Set the desired version"),
        Binding("r", "reload", "Reload", tooltip="Retry what failed; re-read what is open"),
        Binding("c", "copy_state", "Copy", tooltip="Copy the state as JSON"),
        Binding("x", "copy_context", "Copy ctx", tooltip="Copy the context as JSON"),
        Binding("a", "toggle_context", "Full ctx", tooltip="Public or full (admin) context"),
        Binding(
            "1",
            "focus_pane('machines')",
            "Panes",
            key_display="1-5",
            tooltip="Focus machines (2-5: instances, state, composer, history)",
        ),
        Binding("2", "focus_pane('instances')", "Focus instances", show=False),
        Binding("3", "focus_pane('state')", "Focus state", show=False),
        Binding("4", "focus_pane('composer')", "Focus composer", show=False),
        Binding("5", "focus_pane('history')", "Focus history", show=False),
    ]

    def __init__(
        self,
        client: StateBackedClient,
        connection: Connection,
        open_machine: str | None = None,
        open_instance: str | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.connection = connection
        self.machine: str | None = None
        self.instance: str | None = None
        self.state: State | None = None
        self.admin: AdministrativeInstanceState | None = None
        self.live: LiveStatus = "offline"
        self._open_at_start = (open_machine, open_instance)
        self._live_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield MachineList(id="machines")
                yield InstanceList(id="instances")
            with Vertical(id="right"):
                yield InstanceView(id="instance")
                yield EventComposer(id="composer")
                yield TransitionHistory(id="history")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        titles = {
            "#machines": "Machines [1]",
            "#instances": "Instances [2]",
            "#instance": "Instance [3]",
            "#composer": "Send event [4]",
            "#history": "History [5]",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one(MachineList).load(self.client.list_machines)
        machine, instance = self._open_at_start
        if machine:
            self.choose_machine(machine)
            if instance:
                self.open_instance(instance)
        self._show_status()
        self.query_one(MachineList).focus()

    # -- panes ---------------------------------------------------------------------------

    @on(MachineList.Chosen)
    def _machine_chosen(self, event: MachineList.Chosen) -> None:
        self.choose_machine(event.machine)
        self.query_one(InstanceOptions).focus()

    def choose_machine(self, machine: str) -> None:
        self.machine = machine
        instances = self.query_one(InstanceList)
        instances.border_title = f"Instances of {machine} [2]"
        instances.options.load(lambda cursor: self.client.list_instances(machine, cursor))

    @on(InstanceList.Opened)
    def _instance_opened(self, event: InstanceList.Opened) -> None:
        self.open_instance(event.instance)

    def open_instance(self, instance: str) -> None:
        if self.machine is None:
            return
        machine = self.machine
        self.instance, self.state, self.admin = instance, None, None
        history = self.query_one(TransitionHistory)
        history.load(lambda cursor: self.client.list_transitions(machine, instance, cursor))
        self.query_one(InstanceView).border_title = f"{machine}/{instance} [3]"
        self.query_one(EventComposer).target(
            machine, instance, None, self._client_for, self.connection.can_act_as
        )
        self.read_instance()
        self._subscribe(machine, instance)

    @work(group="read", exclusive=True, exit_on_error=False)
    async def read_instance(self) -> None:
        machine, instance = self.machine, self.instance
        if machine is None or instance is None:
            return
        view = self.query_one(InstanceView)
        try:
            state = await self.client.get_instance(machine, instance)
        except StateBackedError as error:
            view.show_error(str(error))
            return
        admin: AdministrativeInstanceState | None = None
        note: str | None = None
        try:
            admin = await self.client.get_instance_admin(machine, instance)
        except MissingScope:
            note = "The admin view (status, version, full context) needs an admin key."
        except StateBackedError as error:
            note = f"Admin view unavailable: {error}"
        if (machine, instance) != (self.machine, self.instance):
            return
        self.state, self.admin = state, admin
        view.show(machine, instance, state, admin, note)
        self.query_one(EventComposer).follow(state)

    def _client_for(self, acting: dict[str, Any] | None) -> StateBackedClient:
        """The client for a send: ours, or one minting tokens as another end user."""
        auth = self.connection.auth
        if acting is None or not isinstance(auth, KeyCredentials):
            return self.client
        return StateBackedClient(
            auth.with_auth_context(acting), self.connection.base_url, org_id=self.connection.org_id
        )

    @on(EventComposer.Settled)
    def _settled(self, event: EventComposer.Settled) -> None:
        if (event.machine, event.instance) != (self.machine, self.instance):
            return
        self.state = event.state
        self.query_one(TransitionHistory).refresh_newest()
        self.read_instance()

    @on(TransitionHistory.Opened)
    def _transition_opened(self, event: TransitionHistory.Opened) -> None:
        self.app.push_screen(TransitionDetail(event.row))

    @on(TransitionHistory.Loaded)
    def _history_loaded(self, event: TransitionHistory.Loaded) -> None:
        self.query_one(EventComposer).suggest(event.event_types)

    # -- live ----------------------------------------------------------------------------

    def _subscribe(self, machine: str, instance: str) -> None:
        if self._live_worker is not None:
            self._live_worker.cancel()
        self._set_live("reconnecting")
        self._live_worker = self._follow(machine, instance)

    @work(group="live", exit_on_error=False)
    async def _follow(self, machine: str, instance: str) -> None:
        try:
            async for update in self.client.subscribe(machine, instance, on_status=self._set_live):
                if (machine, instance) != (self.machine, self.instance):
                    return
                if isinstance(update, Reconnected):
                    self.read_instance()
                    self.query_one(TransitionHistory).refresh_newest()
                elif isinstance(update, InstanceUpdate):
                    self._apply_update(update)
        except StateBackedError as error:
            self._set_live("offline")
            self.notify(f"Live updates stopped: {error}", severity="warning", markup=False)

    def _apply_update(self, update: InstanceUpdate) -> None:
        state = State(
            ts=update.ts or 0,
            state=update.state,
            publicContext=update.public_context,
            tags=update.tags,
            done=update.done,
        )
        if self.state is not None and state.ts and state.ts == self.state.ts:
            return
        self.state = state
        assert self.machine is not None and self.instance is not None
        self.query_one(InstanceView).show(self.machine, self.instance, state, self.admin, None)
        self.query_one(EventComposer).follow(state)
        self.query_one(TransitionHistory).refresh_newest()

    def _set_live(self, status: LiveStatus) -> None:
        self.live = status
        self._show_status()

    def _show_status(self) -> None:
        where = self.connection.profile or self.connection.base_url
        live = STATUS_TEXT[self.live] if self.instance else ""
        self.app.sub_title = f"{where}  {live}".strip()

    # -- actions -------------------------------------------------------------------------

    def action_focus_pane(self, pane: str) -> None:
        targets = {
            "machines": "#machines",
            "instances": "#instance-options",
            "state": "#state-tree",
            "composer": "#event-type",
            "history": "#history",
        }
        # At once, not later as Widget.focus does: keys typed right after "4" must
        # reach the composer, not the screen's bindings (where "q" quits).
        self.set_focus(self.query_one(targets[pane]))

    def _need_instance(self) -> bool:
        if self.machine is None or self.instance is None:
            self.notify("Open an instance first.", markup=False)
            return False
        return True

    def action_reload(self) -> None:
        """Retry what failed and re-read what is open."""
        machines = self.query_one(MachineList)
        if machines.failed:
            machines.retry()
        if self.machine is not None:
            self.choose_machine(self.machine)
        if self.instance is not None:
            self.read_instance()
            history = self.query_one(TransitionHistory)
            history.retry()
            history.refresh_newest()

    def action_toggle_context(self) -> None:
        view = self.query_one(InstanceView)
        if view.admin is None:
            self.notify("The full context needs an admin key.", markup=False)
            return
        view.full_context = not view.full_context

    def action_copy_state(self) -> None:
        if (text := self.query_one(InstanceView).state_json()) is not None:
            self.app.copy_to_clipboard(text)
            self.notify("State copied as JSON", markup=False)

    def action_copy_context(self) -> None:
        if (text := self.query_one(InstanceView).context_json()) is not None:
            self.app.copy_to_clipboard(text)
            self.notify("Context copied as JSON", markup=False)

    def action_help(self) -> None:

        send = Binding("enter", "", "Send (in the event type box)")
        sections: list[tuple[str, Sequence[BindingType]]] = [
            (
                "Everywhere",
                [
                    *self.BINDINGS,
                    *self.app.BINDINGS,
                    Binding("tab,shift+tab", "", "Next / previous pane"),
                    Binding("ctrl+p", "", "Command palette: every action by name"),
                ],
            ),
            ("History", TransitionHistory.BINDINGS),
            ("Composer", [*EventComposer.BINDINGS, send]),
            ("Lists", [*InstanceList.BINDINGS, Binding("enter", "", "Open")]),
        ]
        self.app.push_screen(HelpScreen(sections))

    def action_new_instance(self) -> None:
        if self.machine is None:
            self.notify("Choose a machine first.", markup=False)
            return
        self._new_instance(self.machine)

    @work(group="admin", exit_on_error=False)
    async def _new_instance(self, machine: str) -> None:
        try:
            versions = [v async for v in self.client.versions(machine)]
        except StateBackedError:
            versions = []
        answer = await self.app.push_screen_wait(NewInstance(machine, versions))
        if answer is None:
            return
        slug, context, version = answer
        try:
            await self.client.create_instance(machine, slug, context, version)
        except StateBackedError as error:
            self.notify(f"Could not create {slug}: {error}", severity="error", markup=False)
            return
        self.notify(f"Created {machine}/{slug}", markup=False)
        self.choose_machine(machine)
        self.open_instance(slug)

    async def _confirmed(
        self, action: str, instance: str, call: Callable[[], Awaitable[None]], done: str
    ) -> bool:
        """Ask for the instance's name to be typed, make the call, and say how it went."""
        if not await self.app.push_screen_wait(TypedConfirm(action, instance)):
            return False
        try:
            await call()
        except StateBackedError as error:
            self.notify(f"{action}: failed: {error}", severity="error", markup=False)
            return False
        self.notify(done, markup=False)
        return True

    def action_pause_resume(self) -> None:
        if self._need_instance():
            self._pause_resume()

    @work(group="admin", exit_on_error=False)
    async def _pause_resume(self) -> None:
        machine, instance = self.machine, self.instance
        assert machine is not None and instance is not None
        paused = self.admin is not None and self.admin.status == "paused"
        verb = "Resume" if paused else "Pause"
        status: Literal["running", "paused"] = "running" if paused else "paused"
        if not await self._confirmed(
            f"{verb} {machine}/{instance}",
            instance,
            lambda: self.client.set_instance_status(machine, instance, status),
            f"{verb}d {machine}/{instance}",
        ):
            return
        self.read_instance()
        self.query_one(InstanceList).options.load(
            lambda cursor: self.client.list_instances(machine, cursor)
        )

    def action_delete_instance(self) -> None:
        if self._need_instance():
            self._delete()

    @work(group="admin", exit_on_error=False)
    async def _delete(self) -> None:
        machine, instance = self.machine, self.instance
        assert machine is not None and instance is not None
        if not await self._confirmed(
            f"Delete {machine}/{instance} and its history forever",
            instance,
            lambda: self.client.delete_instance(machine, instance),
            f"Deleted {machine}/{instance}",
        ):
            return
        if self._live_worker is not None:
            self._live_worker.cancel()
        self.instance, self.state, self.admin = None, None, None
        self.query_one(InstanceView).clear()
        self.query_one(TransitionHistory).load(None)
        self._set_live("offline")
        self.choose_machine(machine)

    def action_desired_version(self) -> None:
        if self._need_instance():
            self._desired_version()

    @work(group="admin", exit_on_error=False)
    async def _desired_version(self) -> None:
        machine, instance = self.machine, self.instance
        assert machine is not None and instance is not None
        try:
            versions = [v async for v in self.client.versions(machine)]
        except StateBackedError as error:
            self.notify(f"Could not list versions: {error}", severity="error", markup=False)
            return
        version = await self.app.push_screen_wait(ChooseVersion(instance, versions))
        if version is None:
            return
        if not await self._confirmed(
            f"Move {machine}/{instance} to version {version} at its next event",
            instance,
            lambda: self.client.set_desired_version(machine, instance, version),
            f"{instance} moves to {version} at its next event",
        ):
            return
        self.read_instance()

    async def on_unmount(self) -> None:
        await self.client.aclose()

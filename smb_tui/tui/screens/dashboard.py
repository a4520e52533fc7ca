"""The main screen: machines, instances, the open instance, the composer, the history.

The open instance is an `InstanceSession` (no Textual); its snapshot is bound into the
instance pane and the composer, so they say the same thing. What the user does comes
up as messages and actions, and this screen turns them into calls in workers.

Why one module of ~710 lines: it is the screen's layout and the routing of every pane's
messages to the session, the history and the composer, with their bindings; the admin
flows (`admin_flows.py`) and the dialogs (`modals/`) are apart already.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Header, Input, Static, TextArea
from textual.worker import Worker, WorkerState

from smb_tui.api.auth import KeyCredentials
from smb_tui.api.errors import ConfigurationError, OutcomeUnknown, StateBackedError
from smb_tui.core.describe import context_changes
from smb_tui.core.history_cache import CacheUnavailable
from smb_tui.core.instance_session import InstanceSession, InstanceSnapshot
from smb_tui.core.text import safe
from smb_tui.tui.apart import made_apart
from smb_tui.tui.clipboard import copy_and_say
from smb_tui.tui.screens.authoring_flows import AuthoringFlows
from smb_tui.tui.state_graph import graph_of
from smb_tui.tui.widgets.event_composer import EventComposer
from smb_tui.tui.widgets.filtered_list import FilteredList
from smb_tui.tui.widgets.instance_list import InstanceList
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.logs_view import LogsTarget, LogsView
from smb_tui.tui.widgets.machine_list import MachineList
from smb_tui.tui.widgets.paged_list import PagedList
from smb_tui.tui.widgets.transition_history import TransitionHistory
from smb_tui.tui.widgets.whole_footer import WholeFooter

if TYPE_CHECKING:
    # Loaded when first used, not on the way to the first frame: the dialogs, and the
    # client with its models (httpx and pydantic: a third of the dashboard's imports).
    from smb_tui.api.client import StateBackedClient
    from smb_tui.api.models import State, Transition
    from smb_tui.config import Connection
    from smb_tui.core.history_buffer import Row
    from smb_tui.core.history_cache import CachedHistory, HistoryCache
    from smb_tui.tui.screens.modals import ExportChoice, Resend

STATUS_TEXT = {"live": "● live", "reconnecting": "↻ reconnecting", "offline": "○ offline"}
PANES = {
    "machines": ("#machines", "#machine-options", "Machines"),
    "instances": ("#instances", "#instance-options", "Instances"),
    "state": ("#instance", "#state-tree", "Instance"),
    "composer": ("#composer", "#event-type", "Send event"),
    "history": ("#history", "#history", "History"),
    "logs": ("#logs", "#logs-log", "Logs"),
}
PANE_NUMBERS = {name: str(number) for number, name in enumerate(PANES, 1)}
# Actions that need an open instance, and actions bound to one key that must not fire
# while the user is typing in a box or sitting on a button.
INSTANCE_ACTIONS = {
    "pause_resume",
    "delete_instance",
    "desired_version",
    "copy_state",
    "copy_context",
}
KEY_ACTIONS = {
    "help",
    "copy_instance",
    "leave_copy",
    "new_instance",
    "pause_resume",
    "delete_instance",
    "desired_version",
    "reload",
    "copy_state",
    "copy_context",
    "toggle_context",
    "maximize",
    "focus_pane",
    "toggle_logs",
    "versions",
    "query_index",
}


async def _held(rows: Sequence[Row], oldest_first: bool) -> AsyncIterator[Transition]:
    """Rows already loaded, as the transitions they came from; letting the screen run
    every thousand (a million rows held took the dashboard's keys for seconds)."""
    from smb_tui.api.models import Transition

    for index, row in enumerate(reversed(rows) if oldest_first else rows):
        if index % 1000 == 999:
            await asyncio.sleep(0)
        yield Transition.model_validate(row.as_json())


def typing_in(widget: Widget | None) -> bool:
    return isinstance(widget, Input | TextArea | Button)


class DashboardScreen(AuthoringFlows):
    CSS_PATH = "dashboard.tcss"
    # Where Textual puts the focus once the screen is composed, before it is mounted
    # (the app's "*" chose the machine filter's box, and the focus then moved on: the
    # footer's keys were rebuilt for each, 10 ms apiece before the machines were drawn).
    AUTO_FOCUS = "#machine-options"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # the lists give way below 100
    # Short descriptions fit the footer at 80 columns; the help screen adds the tooltips.
    # Destructive actions are capitals, and each still asks for the instance's name.
    BINDINGS = [
        Binding("question_mark", "help", "Keys", tooltip="All keys"),  # first: 80 columns
        Binding("escape", "back", "Back", show=False, tooltip="Back out one level"),
        Binding("n", "new_instance", "New", tooltip="Create an instance of this machine"),
        Binding("r", "reload", "Reload", tooltip="Retry what failed; re-read what is open"),
        Binding("a", "toggle_context", "Full ctx", tooltip="Public or full (admin) context"),
        Binding("c", "copy_state", "Copy", tooltip="Copy the state as JSON"),
        Binding("x", "copy_context", "Copy ctx", tooltip="Copy the context as JSON"),
        Binding("z", "maximize", "Zoom", tooltip="Let the focused pane fill the screen"),
        Binding("P", "pause_resume", "Pause", tooltip="Pause or resume the instance"),
        Binding("U", "desired_version", "Upgrade", tooltip="Set the desired version"),
        Binding("V", "versions", "Versions", tooltip="The machine's versions, marked"),
        Binding("I", "query_index", "Index", tooltip="Find instances by an index value"),
        Binding("D", "delete_instance", "Delete", tooltip="Delete the instance and history"),
        Binding(
            "F",
            "copy_instance",
            "Copy to try",
            tooltip="A copy on a local server, to try events on",
        ),
        Binding("B", "leave_copy", "Original", tooltip="Back from the copy to the original"),
        Binding("l", "toggle_logs", "Logs", tooltip="Logs in place of the history, and back"),
        Binding(
            "ctrl+o",
            "switch_profile",
            "Profile",
            show=False,
            tooltip="Switch to another profile of config.toml (or local)",
        ),
        Binding(
            "1",
            "focus_pane('machines')",
            "Panes",
            key_display="1-6",
            tooltip="Focus machines (2-6: instances, state, composer, history, logs)",
        ),
        Binding("2", "focus_pane('instances')", "Focus instances", show=False),
        Binding("3", "focus_pane('state')", "Focus state", show=False),
        Binding("4", "focus_pane('composer')", "Focus composer", show=False),
        Binding("5", "focus_pane('history')", "Focus history", show=False),
        Binding("6", "focus_pane('logs')", "Focus logs", show=False),
    ]

    snapshot: reactive[InstanceSnapshot] = reactive(InstanceSnapshot, always_update=True)

    class NotConnected(Message):
        """The connection's base URL is not one a client can use (said by the client when
        first made): the app shows why in place of this screen."""

        def __init__(self, why: str) -> None:
            super().__init__()
            self.why = why

    def __init__(
        self,
        connection: Connection,
        open_machine: str | None = None,
        open_instance: str | None = None,
        cache: HistoryCache | None = None,
        copy_of: str | None = None,
        client: StateBackedClient | None = None,
    ) -> None:
        """`copy_of`: this dashboard shows a copy (on a local server) of that instance.
        `client`: the one to use; by default one for `connection`, made when first needed."""
        super().__init__()
        self._client = client
        self.connection = connection
        self.cache = cache
        self._cache_file = cache  # closed with the screen, even after it failed
        self.copy_of = copy_of
        self.copies: dict[tuple[str, str], tuple[str, str]] = {}  # see AuthoringFlows
        self.machine: str | None = None
        self.session: InstanceSession | None = None
        self._open_at_start = (open_machine, open_instance)
        self._connected = False  # the first requests made, once the first frame was out

    @property
    def client(self) -> StateBackedClient:
        """The connection's client, made when first asked for: the dashboard's first frame
        is drawn before its module (httpx, pydantic and the models) is loaded.
        ConfigurationError when the connection's base URL is not a URL the client takes."""
        if self._client is None:
            self._client = self.connection.client()
        return self._client

    def copy_screen(
        self, client: StateBackedClient, target: Connection, machine: str, slug: str, source: str
    ) -> DashboardScreen:
        return DashboardScreen(target, machine, slug, None, copy_of=source, client=client)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield MachineList(id="machines")
                yield InstanceList(id="instances")
            with Vertical(id="right"):
                yield Static(id="copy-banner")
                yield InstanceView(id="instance").data_bind(DashboardScreen.snapshot)
                yield EventComposer(id="composer").data_bind(DashboardScreen.snapshot)
                yield Input(
                    placeholder="search event types and payloads (Esc stops, again clears)",
                    id="history-filter",
                )
                yield TransitionHistory(id="history")
                yield LogsView(id="logs")
        yield WholeFooter(compact=True)

    def on_mount(self) -> None:
        for name in PANES:
            self._title(name)
        machine, instance = self._open_at_start
        # The classes the first frame needs, set before its styles are worked out (each
        # set later restyles every widget on the screen, a few ms each): the width's
        # breakpoint (Textual sets it on the first resize, which then finds it set),
        # where the focus starts, and whether the composer may send as another user.
        width, widths = self.app.size.width, sorted(self.HORIZONTAL_BREAKPOINTS, reverse=True)
        chosen = next((name for least, name in widths if width >= least), None)
        for _, name in widths:  # as Textual chooses: the widest breakpoint the width reaches
            self.set_class(name == chosen, name, update=False)
        self.set_class(not (machine and instance), "-picking", update=False)
        self.query_one(EventComposer).allow_acting_as(self.connection.can_act_as, update=False)
        self.set_interval(1, self._show_status)
        self._show_status()
        # Opened on an instance: the instance has the focus (and, narrow, the screen).
        start = "#machine-options"
        if machine:
            start = "#state-tree" if instance else "#instance-options"
        self.set_focus(self.query_one(start))
        # The first requests once the first frame is out: they load the client's module.
        # Told by the screen's layout signal (through the machine list, which has no
        # other use for it: the screen's own subscription must stay); Textual sends it
        # from the app's second layout on, so, were this the first, by the refresh after.
        machines = self.query_one(MachineList)
        machines.options.expect()
        self.screen_layout_refresh_signal.subscribe(machines, self._drawn)
        self.call_after_refresh(self._drawn, self)

    def _drawn(self, _: object) -> None:
        self.screen_layout_refresh_signal.unsubscribe(self.query_one(MachineList))
        if self._connected:  # (two layouts may have told it before it ran)
            return
        self._connected = True
        # The process's first dashboard: what start-up made (Textual, the screens, then
        # the client's module and its models' schemas: most of what the process will
        # hold) is set aside from Python's cycle collector, which otherwise walks all of
        # it again at each full collection (one came with the client's module, 40-50 ms
        # before the machines; an End over 100,000 rows makes four or five). What is set
        # aside is never collected as a cycle: start-up's objects live as long as the
        # app, and its garbage then is small. (Collecting the youngest objects less often
        # as well saved about as much again, but held more memory: not done.)
        starting = gc.get_freeze_count() == 0
        if starting:
            gc.freeze()
        self._connect()
        if starting:
            gc.freeze()

    def _connect(self) -> None:
        try:
            self.query_one(MachineList).load(self.client.list_machines)
        except ConfigurationError as error:
            self.post_message(self.NotConnected(str(error)))
            return
        machine, instance = self._open_at_start
        if machine and self.machine is None:  # (unless one was chosen in the meantime)
            self.choose_machine(machine)
            if instance:
                self.open_instance(instance)

    def _title(self, pane: str, what: str | None = None) -> None:
        """`[n] Title`: the number first, so that a narrow pane keeps it."""
        selector, _, title = PANES[pane]
        text = Text(f"[{PANE_NUMBERS[pane]}] ")
        text.append(safe(what) if what else title)
        self.query_one(selector).border_title = text

    # -- panes ---------------------------------------------------------------------------

    @on(MachineList.Chosen)
    def _machine_chosen(self, event: MachineList.Chosen) -> None:
        self.choose_machine(event.machine)
        self.set_focus(self.query_one("#instance-options"))

    def choose_machine(self, machine: str) -> None:
        self.machine = machine
        self.refresh_bindings()  # n, V and I need a machine
        instances = self.query_one(InstanceList)
        self._title("instances", f"Instances of {machine}")
        instances.show_machine(machine)
        instances.options.load(lambda cursor: self.client.list_instances(machine, cursor))

    @on(InstanceList.Opened)
    def _instance_opened(self, event: InstanceList.Opened) -> None:
        self.open_instance(event.instance)
        if event.from_filter or self.has_class("-narrow"):
            # Keys typed next are for the instance, not the filter box (and, narrow, the
            # instance is what there is to see now).
            self.set_focus(self.query_one("#state-tree"))
        # From the list, focus stays there: Down and Enter flip through instances.

    def open_instance(self, instance: str) -> None:
        if self.machine is None:
            return
        machine = self.machine
        self._close_session()
        self.session = InstanceSession(
            self.client,
            machine,
            instance,
            on_change=self._session_changed,
            on_transitions=self._new_transitions,
            on_reconnected=self._reconnected,
            client_for=self._client_for,
        )
        self.session.full_context = self.query_one(InstanceView).full_context
        self.snapshot = self.session.snapshot
        self._title("state", f"{machine}/{instance}")
        history_filter = self.query_one("#history-filter", Input)
        with history_filter.prevent(Input.Changed):
            history_filter.value = ""
        history_filter.display = False
        history = self.query_one(TransitionHistory)
        history.forget_context_marks()  # another instance's rows
        history.load(
            lambda cursor: self.client.list_transitions(machine, instance, cursor),
            cache=self._cached(machine, instance),
        )
        self.query_one(LogsView).show(self.client, LogsTarget(machine, instance))
        self.query_one(EventComposer).clear()
        self._show_copy_banner(machine, instance)
        self._read(self.session)
        self._follow(self.session)

    def _cached(self, machine: str, instance: str) -> CachedHistory | None:
        if self.cache is None:
            return None
        try:
            return self.cache.history(
                self.connection.base_url, self.connection.org_id, machine, instance
            )
        except CacheUnavailable as error:
            self._cache_failed(TransitionHistory.CacheFailed(str(error)))
            return None

    @on(TransitionHistory.CacheFailed)
    def _cache_failed(self, event: TransitionHistory.CacheFailed) -> None:
        """Said once; the app goes on without the cache."""
        if self.cache is not None:
            self.cache = None
            self.notify(safe(event.why), severity="warning", timeout=10, markup=False)

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
        self.workers.cancel_group(self, "live")
        self.workers.cancel_group(self, "read")
        self.session = None

    def recolour(self) -> None:
        """The theme changed: draw again what holds colours as text (palette.tone)."""
        self.snapshot = self.snapshot
        for pane in self.query(PagedList):
            pane.redraw()

    def _session_changed(self, snapshot: InstanceSnapshot) -> None:
        try:
            self._show_session(snapshot)
        except NoMatches:
            if not self._taken_down():
                raise  # a pane missing while the screen stands: a fault, said as one

    def _taken_down(self) -> bool:
        """Textual removes a screen's widgets, in no set order, before the screen's own
        unmount closes the session: a live update's timer that fires in between finds
        some panes gone (the machine list's options, say, with the logs still there)."""
        return not all(
            self.query(selector)
            for pane in PANES.values()
            for selector in pane[:2]
            if selector != "#logs-log"  # made when the logs are first shown
        )

    def _show_session(self, snapshot: InstanceSnapshot) -> None:
        previous = self.snapshot
        self.snapshot = snapshot
        if _offers(previous) != _offers(snapshot):
            # What the footer offers depends on these only. Refreshing on every live update
            # rebuilt the footer each time, and each FooterKey left its watchers behind.
            self.refresh_bindings()
        if snapshot.phase == "not-found" and previous.phase != "not-found":
            self.query_one(TransitionHistory).load(
                None, f"  ✖ no such instance: {safe(snapshot.name)}"
            )
        if self.session is not None and self.session.admin_wanted:
            self._read_admin(self.session)
        if snapshot.admin is not None and snapshot.admin.machine_version is not None:
            self.query_one(LogsView).set_version(snapshot.admin.machine_version.id)
        self._show_status()
        self._follow_on_chart(snapshot)

    def _new_transitions(self, before: State | None, after: State) -> None:
        history = self.query_one(TransitionHistory)
        changes = context_changes(before.public_context, after.public_context) if before else []
        if changes:  # history rows carry no context: the row is marked with what was seen
            history.context_seen(after.ts / 1000, ", ".join(change.label() for change in changes))
        history.refresh_newest()

    def _reconnected(self) -> None:
        """Live updates are back: every pane reads again what it may have missed."""
        self.action_reload(read_instance=False)

    @work(group="read", exit_on_error=False)
    async def _read(self, session: InstanceSession) -> None:
        await session.read()

    @work(group="read-admin", exclusive=True, exit_on_error=False)
    async def _read_admin(self, session: InstanceSession) -> None:
        await session.read_admin()

    @work(group="live", exit_on_error=False)
    async def _follow(self, session: InstanceSession) -> None:
        try:
            await session.follow()
        except StateBackedError as error:
            if not session.closed:
                self.notify(
                    f"Live updates stopped: {safe(error)}", severity="warning", markup=False
                )

    def _client_for(self, acting: dict[str, Any] | None) -> StateBackedClient:
        """The client for a send: ours, or one minting tokens as another end user."""
        auth = self.connection.auth
        if acting is None or not isinstance(auth, KeyCredentials):
            return self.client
        return replace(self.connection, auth=auth.with_auth_context(acting)).client()

    @on(EventComposer.SendRequested)
    def _send_requested(self, event: EventComposer.SendRequested) -> None:
        if self.session is not None:
            self._send(self.session, event.event, event.acting)

    @work(group="send", exit_on_error=False)
    async def _send(
        self, session: InstanceSession, event: dict[str, Any], acting: dict[str, Any] | None
    ) -> None:
        report = await session.send(event, acting)
        if session is not self.session:
            return
        self.query_one(EventComposer).show_report(report)
        if isinstance(report.error, OutcomeUnknown):
            await session.read()

    @on(TransitionHistory.Opened)
    def _transition_opened(self, event: TransitionHistory.Opened) -> None:
        from smb_tui.tui.screens.modals import TransitionDetail

        def to_composer(answer: Resend | None) -> None:
            if answer is not None:
                self.query_one(EventComposer).fill(answer.event)
                self.set_focus(self.query_one("#event-type"))

        self.app.push_screen(TransitionDetail(event.row, event.before, event.context), to_composer)

    @on(TransitionHistory.JumpRequested)
    def _jump_requested(self) -> None:
        from smb_tui.tui.screens.modals import JumpToTime

        history = self.query_one(TransitionHistory)

        def jump(moment: float | None) -> None:
            if moment is not None:
                history.jump_to(moment)
            self.set_focus(history)

        self.app.push_screen(JumpToTime(TransitionHistory.clock), jump)

    @on(TransitionHistory.ExportRequested)
    def _export_requested(self) -> None:
        from smb_tui.tui.screens.modals import ExportHistory

        session = self.session
        if session is None:
            return
        default = Path.cwd() / f"{session.machine}-{session.instance}-history.jsonl"

        def chosen(choice: ExportChoice | None) -> None:
            if choice is not None:
                self._export(session.machine, session.instance, choice)

        self.app.push_screen(ExportHistory(default), chosen)

    @work(group="export", exclusive=True, exit_on_error=False)
    async def _export(self, machine: str, instance: str, choice: ExportChoice) -> None:
        """The rows already loaded when they are the whole history; else every page."""
        from smb_tui import export

        history = self.query_one(TransitionHistory)
        fmt = export.format_for(choice.path)
        items: AsyncIterator[Transition]
        if history.holds_whole_history:
            rows = history.loaded_rows()
            items = _held(rows, choice.oldest_first)
        else:
            items = export.history(self.client, machine, instance, choice.oldest_first)
        self.notify(f"Exporting the history of {machine}/{instance}…", markup=False)
        try:
            with export.atomic_file(choice.path) as out:
                writer = export.Writer(out, fmt, export.HISTORY_COLUMNS)
                count = await export.export(items, writer)
        except StateBackedError as error:
            self.notify(
                f"Export failed: {safe(error)}; nothing written", severity="error", markup=False
            )
            return
        except OSError as error:
            self.notify(
                f"Export failed: {safe(error.strerror or error)}; nothing written",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"Exported {count:,} transitions to {safe(choice.path)}", markup=False)

    @on(TransitionHistory.GraphRequested)
    def _graph_requested(self) -> None:
        history = self.query_one(TransitionHistory)
        session = self.session
        rows = history.loaded_rows()
        if session is None or not rows:
            self.notify("Open an instance with a history first", markup=False)
            return
        title = f"States of {safe(session.machine)}/{safe(session.instance)}"
        self._open_graph(title, rows, history.holds_whole_history)

    @work(group="graph", exclusive=True, exit_on_error=False)
    async def _open_graph(self, title: str, rows: list[Row], complete: bool) -> None:
        """The map of `rows` (on a thread when they are many), the screen opened when it
        is made."""
        from smb_tui.tui.screens.modals import StateGraphScreen

        def going() -> None:
            self.notify(f"Mapping {len(rows):,} transitions…", markup=False, timeout=3)

        graph = await made_apart(len(rows), lambda: graph_of(rows), going)
        self.app.push_screen(StateGraphScreen(title, graph, complete))

    @on(TransitionHistory.FilterRequested)
    def _filter_history(self) -> None:
        box = self.query_one("#history-filter", Input)
        box.display = True
        self.set_focus(box)

    @on(Input.Changed, "#history-filter")
    def _history_filter_changed(self, event: Input.Changed) -> None:
        self.query_one(TransitionHistory).set_filter(event.value)

    @on(Input.Submitted, "#history-filter")
    def _history_filter_done(self) -> None:
        self.set_focus(self.query_one(TransitionHistory))

    def _clear_history_filter(self) -> None:
        box = self.query_one("#history-filter", Input)
        box.value = ""
        box.display = False
        self.query_one(TransitionHistory).set_filter("")
        self.set_focus(self.query_one(TransitionHistory))

    @on(TransitionHistory.Upgraded)
    def _history_upgraded(self) -> None:
        if self.session is not None:
            self.session.version_moved()
            if self.session.admin_wanted:
                self._read_admin(self.session)

    @on(TransitionHistory.Loaded)
    def _history_loaded(self, event: TransitionHistory.Loaded) -> None:
        self.query_one(EventComposer).suggest(event.events)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """One handler for every worker of this screen that raised what nobody expected
        (its own errors are StateBackedErrors, handled where they happen): it is said, and
        nothing is left waiting for it."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.notify(
            f"Unexpected error ({event.worker.group}): {safe(error)}",
            severity="error",
            timeout=15,
            markup=False,
        )
        if event.worker.group == "send":
            self.query_one(EventComposer).send_failed(f"the send failed unexpectedly: {error}")
        elif event.worker.group in ("read", "read-admin") and self.session is not None:
            self.session.failed_unexpectedly(str(error))
        self._show_status()

    # -- status --------------------------------------------------------------------------

    def _failing_panes(self) -> list[str]:
        failing = []
        if self.query_one(MachineList).failed:
            failing.append("machines")
        if self.query_one(InstanceList).options.failed:
            failing.append("instances")
        if self.snapshot.phase in ("error", "stale"):
            failing.append("instance")
        if self.query_one(TransitionHistory).failed:
            failing.append("history")
        logs = self.query_one(LogsView)
        if logs.display and logs.error:
            failing.append("logs")
        return failing

    def _show_status(self) -> None:
        where = self.connection.profile or self.connection.base_url
        snapshot = self.snapshot
        self._mark_stale(snapshot.stale_since)
        if snapshot.name is None:
            # No instance open: the lists may still have failed, and say so here too.
            failing = self._failing_panes()
            live = f"⚠ {', '.join(failing)} failed (r retries)" if failing else ""
        elif snapshot.phase == "not-found":
            live = "✖ no such instance"
        elif snapshot.stale_since is not None:
            # The server is gone: that says more than any one pane's error.
            live = f"{STATUS_TEXT[snapshot.live]} (stale since {_clock(snapshot.stale_since)})"
        elif failing := self._failing_panes():
            # Never "live" while a pane shows an error.
            live = f"⚠ {', '.join(failing)} failed (r retries)"
        elif snapshot.phase == "loading":
            live = "⧗ loading"
        elif snapshot.live == "live" and snapshot.behind:
            live = "⧗ live, behind: catching up"  # never "live" while the screen lags
        else:
            live = STATUS_TEXT[snapshot.live]
        sub_title = f"{where}  {live}".strip()
        if self.app.sub_title != sub_title:
            self.app.sub_title = sub_title

    def _mark_stale(self, since: float | None) -> None:
        """Every pane that shows what the server said says, in its border, since when
        that may be old: the lists, the history and the logs (the instance pane says it
        in its first line)."""
        note = f"⚠ stale since {_clock(since)}" if since is not None else ""
        for selector in ("#machines", "#instances"):
            pane = self.query_one(selector)
            if pane.border_subtitle != note:
                pane.border_subtitle = note
        self.query_one(TransitionHistory).stale_note = note
        self.query_one(LogsView).set_stale(since)

    # -- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in KEY_ACTIONS and typing_in(self.focused):
            return False  # the key is the user's text, or the button's
        # What cannot run is not offered: the footer shows only what a key would do now.
        if action in INSTANCE_ACTIONS and not self.snapshot.can_send:
            return False
        if action == "toggle_context" and self.snapshot.admin is None:
            return False
        if action == "copy_instance" and self.snapshot.state is None:
            return False
        if action == "leave_copy":
            pushed = self.copy_of is not None and len(self.app.screen_stack) >= 3
            return pushed or self.copy_open_here() is not None
        needs_machine = action in ("new_instance", "versions", "query_index")
        return not (needs_machine and self.machine is None)

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
        # Narrow (below 100 columns): the lists take the whole width while one has the
        # focus, and give it back to the instance's panes when it moves on.
        self.set_class(self._pane_of(self.focused) in ("machines", "instances"), "-picking")

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_focus_pane(self, pane: str) -> None:
        # At once, not later as Widget.focus does: keys typed right after "4" must
        # reach the composer, not the screen's bindings (where "q" quits).
        if pane in ("history", "logs"):
            self._show_logs(pane == "logs")
        self.set_class(pane in ("machines", "instances"), "-picking")
        self.set_focus(self.query_one(PANES[pane][1]))

    def _show_logs(self, logs: bool) -> None:
        """The logs and the history share their place: one is shown at a time."""
        self.query_one(TransitionHistory).display = not logs
        if not logs:
            self.query_one("#history-filter", Input).display = False
        view = self.query_one(LogsView)
        view.display = logs
        if logs:
            view.activate()

    def action_toggle_logs(self) -> None:
        self.action_focus_pane("history" if self.query_one(LogsView).display else "logs")

    def _pane_of(self, widget: Widget | None) -> str | None:
        for name, (selector, _, _) in PANES.items():
            pane = self.query_one(selector)
            if widget is pane or (widget is not None and pane in widget.ancestors):
                return name
        return None

    def action_back(self) -> None:
        """Esc: out of a zoomed pane, a filter, a page hunt, or one pane up the way in."""
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        history_filter = self.query_one("#history-filter", Input)
        if focused is history_filter and self.query_one(TransitionHistory).stop_seeking():
            return  # a search loading pages: stopped; the next Esc clears it
        history = self.query_one(TransitionHistory)
        if focused is history and history.stop_seeking():
            return  # a search, a time jump or End loading pages: stopped
        if focused is history_filter or (focused is history and history_filter.value):
            self._clear_history_filter()
            return
        pane = self._pane_of(focused)
        if pane == "logs" and self.query_one(LogsView).clear_filter():
            return
        if pane in ("machines", "instances"):
            filtered = self.query_one(PANES[pane][0], FilteredList)
            if isinstance(focused, Input) or filtered.filter_box.value:
                filtered.clear_filter()
                return
        up = {
            "history": "state",
            "logs": "state",
            "composer": "state",
            "state": "instances",
            "instances": "machines",
        }
        if pane in up:
            self.action_focus_pane(up[pane])

    def action_maximize(self) -> None:
        """z: zoom the focused pane, and z again (or Esc) to come back."""
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def lists_changed(self) -> None:
        """Machines and instances came that what is shown may lack (a demo database
        seeded after it was read, the instance opened at start among them): read it all
        again, the highlights staying put."""
        self.query_one(MachineList).options.reload()
        if self.machine is not None:
            self.query_one(InstanceList).options.reload()
        if self.session is not None:  # opened anew: its reads, history and live updates
            self.open_instance(self.session.instance)

    def action_reload(self, read_instance: bool = True) -> None:
        """Retry what failed and re-read what is open."""
        machines = self.query_one(MachineList)
        if machines.failed:
            machines.retry()
        if self.machine is not None:
            self.query_one(InstanceList).options.reload()  # the highlight stays where it is
        if self.session is not None:
            if read_instance:
                self._read(self.session)
            history = self.query_one(TransitionHistory)
            history.retry()
            history.refresh_newest()
        self._show_status()

    def action_toggle_context(self) -> None:
        view = self.query_one(InstanceView)
        view.full_context = not view.full_context
        if self.session is not None:
            self.session.full_context = view.full_context
            if self.session.admin_wanted:
                self._read_admin(self.session)

    def action_copy_state(self) -> None:
        if (text := self.query_one(InstanceView).state_json()) is not None:
            copy_and_say(self, text, "State")

    def action_copy_context(self) -> None:
        if (text := self.query_one(InstanceView).context_json()) is not None:
            copy_and_say(self, text, "Context")

    class ProfileSwitchRequested(Message):
        """Ctrl+O: the app, which holds the connection, offers the profiles."""

    def action_switch_profile(self) -> None:
        self.post_message(self.ProfileSwitchRequested())

    def action_help(self) -> None:
        from smb_tui.tui.screens.modals import HelpScreen

        sections = key_sections(self.app.BINDINGS)
        self.app.push_screen(HelpScreen(sections))

    def _instance_gone(self, session: InstanceSession) -> None:
        """`session`'s instance was deleted: nothing may still point at it."""
        if session is self.session:
            self._close_session()
            self.snapshot = InstanceSnapshot()
            self._title("state")
            self.query_one(TransitionHistory).load(None)

    async def on_unmount(self) -> None:
        self._close_session()
        if self._cache_file is not None:
            self._cache_file.close()  # after its writes queued: none is lost at exit
        if self._client is not None:
            await self._client.aclose()


def key_sections(app_bindings: Sequence[BindingType]) -> list[tuple[str, Sequence[BindingType]]]:
    """Every key of the dashboard, by pane, from the bindings themselves: the ? screen's
    content, and `smb-tui help keys`."""
    send = Binding("enter", "", "Send (in the event type box)")
    take = Binding("tab,right", "", "Take the suggested event type (then Tab moves on)")
    example = Binding("right", "", "In an empty payload: take the history's payload shown")
    leave = Binding("escape", "", "Back to the instance: keys are keys again")
    return [
        (
            "Everywhere",
            [
                *DashboardScreen.BINDINGS,
                *app_bindings,
                Binding("tab,shift+tab", "", "Next / previous pane"),
                Binding("ctrl+p", "", "Command palette: every action by name"),
            ],
        ),
        ("History", TransitionHistory.BINDINGS),
        ("Logs", LogsView.BINDINGS),
        ("Composer", [*EventComposer.BINDINGS, send, take, example, leave]),
        (
            "Lists",
            [
                *MachineList.BINDINGS,
                Binding("j,k,g,G", "", "Down, up, first, last"),
                Binding("enter", "", "Open"),
            ],
        ),
    ]


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


def _offers(snapshot: InstanceSnapshot) -> tuple[object, ...]:
    """What `check_action` reads of a snapshot: the footer changes when this does."""
    return (snapshot.name, snapshot.can_send, snapshot.admin is None)

"""The dashboard's flows for machine authors and incidents: the statechart drawn (`M`),
the history replayed against code (`R`), and a copy to try events on (`F`). Each works
on what the dashboard has open and says how it went; `DashboardScreen` lays out the panes
and gives these flows what they act on."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.screen import Screen
from textual.widgets import Static

from smb_tui.api.errors import Conflict, NotFound, StateBackedError
from smb_tui.config import is_local_url
from smb_tui.core.text import safe
from smb_tui.tui.apart import made_apart
from smb_tui.tui.screens.admin_flows import AdminFlows
from smb_tui.tui.widgets.transition_history import TransitionHistory

if TYPE_CHECKING:
    from smb_tui.api.client import StateBackedClient
    from smb_tui.config import Connection
    from smb_tui.core.chart import Chart
    from smb_tui.core.history_buffer import Row
    from smb_tui.core.instance_session import InstanceSession, InstanceSnapshot


async def chart_of_rows(rows: Sequence[Row]) -> Chart:
    """The chart the rows (newest first) show, on a thread when they are many.
    ChartTooLarge past its states."""
    from smb_tui.core.chart import from_history

    def charted() -> Chart:
        return from_history([(r.event_type, r.state_value) for r in reversed(rows)])

    return await made_apart(len(rows), charted)


class CommandFailed(Exception):
    """An `smb-tui` command run in a process of its own failed (its message says why)."""


async def replay_bundle(rows: list[dict[str, Any]], bundle: Path) -> dict[str, Any]:
    """`smb-tui replay --json` on `rows` against `bundle`, in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="smb-replay-") as folder:
        history = Path(folder) / "history.jsonl"
        history.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smb_tui", "replay", "--history", str(history),
            "--bundle", str(bundle), "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
    if process.returncode not in (0, 1):
        said = err.decode("utf-8", "replace").strip().removeprefix("smb-tui replay: ")
        raise CommandFailed(said or f"smb-tui replay exited {process.returncode}")
    try:
        report: dict[str, Any] = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise CommandFailed("smb-tui replay printed no report") from error
    return report


async def definition_of_bundle(machine: str, bundle: Path) -> Any:
    """`smb-tui chart --bundle --format json`, in a process of its own (V8 in its worker)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smb_tui", "chart", machine, "--bundle", str(bundle),
        "--format", "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip().removeprefix("smb-tui chart: ")
        raise CommandFailed(said or f"smb-tui chart exited {process.returncode}")
    return json.loads(out.decode("utf-8", "replace"))


async def copy_into(
    client: StateBackedClient,
    machine: str,
    instance: str,
    admin: Any,
    version: str | None,
    source: str,
) -> str | None:
    """A copy of `instance` (its admin view) made through `client`, under the first free
    name `INSTANCE-copy-N`; None when 49 are taken."""
    for number in range(1, 50):
        slug = f"{instance[:100]}-copy-{number}"
        try:
            await client.copy_instance(machine, slug, admin.state, admin.context, version, source)
        except Conflict:
            continue
        return slug
    return None


class AuthoringFlows(AdminFlows):
    """The chart, replay and copy keys' flows, on the dashboard they belong to."""

    connection: Connection
    copy_of: str | None  # this dashboard shows a copy of that instance
    # Copies made on this dashboard's own server: (machine, copy) -> (where it is from,
    # the original's slug), for the banner and for B.
    copies: dict[tuple[str, str], tuple[str, str]]
    session: InstanceSession | None
    _open_at_start: tuple[str | None, str | None]

    def copy_screen(
        self, client: StateBackedClient, target: Connection, machine: str, slug: str, source: str
    ) -> Screen[None]:
        """A dashboard on `target`, opened at the copy `slug` of `source`."""
        raise NotImplementedError

    def _follow_on_chart(self, snapshot: InstanceSnapshot) -> None:
        """An open chart of this instance lights the states it is in now."""
        # No chart was ever opened unless its module is loaded: it is not loaded here
        # for the question (every dialog and the graph layout: 100 ms at the first
        # instance opened, in the middle of its first pages).
        chart = sys.modules.get("smb_tui.tui.screens.modals.chart")
        if chart is None or snapshot.state is None:
            return
        for screen in self.app.screen_stack:
            if isinstance(screen, chart.ChartScreen):
                screen.follow(snapshot.state.state)

    # -- copies: try events on a copy, never on the original -------------------------

    def _show_copy_banner(self, machine: str, instance: str) -> None:
        banner = self.query_one("#copy-banner", Static)
        made_here = self.copies.get((machine, instance))
        source = made_here[0] if made_here is not None else None
        if source is None and self._open_at_start == (machine, instance):
            source = self.copy_of
        banner.display = source is not None
        if source is not None:
            banner.update(
                Text.assemble(
                    ("COPY ", "bold"),
                    f"of {safe(source)}, kept on {safe(self.connection.base_url)}:"
                    " events sent here never reach the original",
                )
            )

    def copy_open_here(self) -> tuple[str, str] | None:
        """The open instance's original, when it is a copy made on this server: (machine,
        slug)."""
        session = self.session
        if session is None:
            return None
        made_here = self.copies.get((session.machine, session.instance))
        return None if made_here is None else (session.machine, made_here[1])

    def action_leave_copy(self) -> None:
        """Back to the original: in place for a copy on this server, else the dashboard
        the copy's was pushed over."""
        original = self.copy_open_here()
        if original is not None:
            machine, slug = original
            self.choose_machine(machine)
            self.open_instance(slug)
            return
        self.app.pop_screen()

    def action_copy_instance(self) -> None:
        session = self.session
        if session is None or session.snapshot.state is None:
            return
        target = getattr(self.app, "copy_to", None)
        if target is None and is_local_url(self.connection.base_url):
            target = self.connection
        if target is None:
            self.notify(
                "F copies into a local server: start one (smb-tui local) and open the"
                " dashboard with --copy-to PROFILE (e.g. --copy-to local)",
                markup=False,
                severity="warning",
                timeout=10,
            )
            return
        self._copy(session, target)

    @work(exclusive=True, group="copy")
    async def _copy(self, session: InstanceSession, target: Connection) -> None:
        """Where the target has not the instance's version (its code is not there), the
        bundle is asked for, deployed there (the machine made if missing), and the copy
        made on that version."""
        machine, instance = session.machine, session.instance
        same = target is self.connection
        client = self.client if same else target.client()
        source = f"{machine}/{instance} ({self.connection.base_url})"
        try:
            admin = await self.client.get_instance_admin(machine, instance)
            version = admin.machine_version.id if admin.machine_version else None
            try:
                slug = await copy_into(client, machine, instance, admin, version, source)
            except NotFound as error:
                version = await self._deploy_for_copy(client, target, machine, error)
                if version is None:
                    return
                slug = await copy_into(client, machine, instance, admin, version, source)
        except StateBackedError as error:
            self.notify(f"No copy made: {safe(error)}", markup=False, severity="error")
            return
        if slug is None:
            self.notify("Too many copies of this instance already", markup=False)
            return
        self.notify(
            f"Copied to {safe(slug)}: events sent there never reach {safe(instance)}",
            markup=False,
        )
        if same:
            self.copies[(machine, slug)] = (source, instance)
            self.choose_machine(machine)
            self.open_instance(slug)
            return
        self.app.push_screen(self.copy_screen(client, target, machine, slug, source))

    async def _deploy_for_copy(
        self, client: StateBackedClient, target: Connection, machine: str, missing: NotFound
    ) -> str | None:
        """The machine's bundle, asked for and deployed to `target`: its new version's id
        (None: not given, said)."""
        from smb_tui.tui.screens.modals import DeployVersion

        self.notify(
            f"{safe(target.base_url)} has not this version of {safe(machine)}"
            f" ({safe(missing)}): give its bundle to deploy there",
            markup=False,
            timeout=10,
        )
        deploy = await self.app.push_screen_wait(DeployVersion(machine))
        if deploy is None:
            self.notify("No copy made: no bundle given", markup=False, severity="warning")
            return None
        try:
            await client.get_machine(machine)
        except NotFound:
            await client.create_machine(machine)
        version_id: str = await client.create_version(
            machine, deploy.code, client_info=deploy.client_info, make_current=deploy.make_current
        )
        self.notify(f"Deployed {safe(deploy.path.name)} as {safe(version_id)}", markup=False)
        return version_id

    # -- replay (R): the history against code -----------------------------------------

    @on(TransitionHistory.ReplayRequested)
    def _replay_requested(self) -> None:
        from smb_tui.tui.screens.modals import ReplayAgainst

        session = self.session
        if session is None or session.snapshot.state is None:
            self.notify("Open an instance first: R replays its history", markup=False)
            return

        def chosen(against: str | None) -> None:
            if against is not None:
                self._replay(session, against)

        local = is_local_url(self.connection.base_url)
        self.app.push_screen(ReplayAgainst(session.machine, local), chosen)

    @work(exclusive=True, group="replay")
    async def _replay(self, session: InstanceSession, against: str) -> None:
        """The whole history (read again, from the creation), replayed: against a bundle
        by `smb-tui replay` in a process of its own (V8 in its worker, never here), or
        against a version by the local server. Diverging rows are marked in the history."""
        machine, instance = session.machine, session.instance
        history = self.query_one(TransitionHistory)
        try:
            rows = [
                {"createdAt": t.created_at, "event": t.event, "state": t.state}
                async for t in self.client.transitions(machine, instance)
            ]
            self.notify(
                f"Replaying {len(rows):,} transitions against {safe(against)}…", markup=False
            )
            if Path(against).expanduser().is_file():
                report = await replay_bundle(rows, Path(against).expanduser())
            else:
                report = await self.client.replay_history(machine, against, rows)
        except NotFound as error:
            self.notify(f"Not replayed: {safe(error)}", markup=False, severity="error")
            return
        except (StateBackedError, CommandFailed) as error:
            self.notify(f"Not replayed: {safe(error)}", markup=False, severity="error")
            return
        if session is not self.session:
            return  # another instance is open now
        divergences = report.get("divergences") or []
        history.mark_divergences(divergences)
        if report.get("agrees"):
            self.notify(f"Replayed {len(rows):,} transitions: every state agrees", markup=False)
        else:
            self.notify(
                f"Replayed {len(rows):,} transitions: {len(divergences):,} diverge, marked ≠"
                " in the history (Enter on one: both states)",
                markup=False,
                severity="warning",
                timeout=10,
            )

    @on(TransitionHistory.DivergenceOpened)
    def _divergence_opened(self, event: TransitionHistory.DivergenceOpened) -> None:
        from smb_tui.tui.screens.modals import DivergenceDetail

        self.app.push_screen(
            DivergenceDetail(event.row.event_type, event.row.created_at, event.divergence)
        )

    @on(TransitionHistory.ChartRequested)
    def _chart_requested(self) -> None:
        session = self.session
        if session is None or session.snapshot.state is None:
            self.notify("Open an instance first: the chart lights its states", markup=False)
            return
        self._open_chart(session)

    @work(exclusive=True, group="chart")
    async def _open_chart(self, session: InstanceSession) -> None:
        """The definition from the server (smb-tui local gives it); else from the bundle
        named for the machine (`--bundle M=FILE`, a profile's `[bundles]`), evaluated by
        `smb-tui chart` in a process of its own; else the chart of what the loaded history
        shows. The chart says which."""
        from smb_tui.core.chart import ChartTooLarge, from_definition
        from smb_tui.tui.screens.modals import ChartScreen

        history = self.query_one(TransitionHistory)
        rows = history.loaded_rows()
        machine, instance = session.machine, session.instance
        admin = session.snapshot.admin
        version = admin.machine_version.id if admin and admin.machine_version else "current"
        bundle = self.connection.bundles.get(machine)
        try:
            chart = from_definition(await self.client.get_definition(machine, version))
            note = f"The definition of version {safe(version)}, from the server"
        except (StateBackedError, ChartTooLarge) as error:
            reason = (
                "this server gives no definitions" if isinstance(error, NotFound) else safe(error)
            )
            chart = None
            if bundle is not None:
                try:
                    chart = from_definition(await definition_of_bundle(machine, Path(bundle)))
                    note = f"The definition in {safe(bundle)} ({reason})"
                except (CommandFailed, ChartTooLarge, ValueError, KeyError) as failed:
                    reason = f"{reason}; {safe(bundle)}: {safe(failed)}"
            if chart is None:
                try:
                    chart = await chart_of_rows(rows)
                except ChartTooLarge as too_large:
                    self.notify(f"No chart: {safe(too_large)}", markup=False, severity="warning")
                    return
                note = (
                    f"Drawn from the {len(rows):,} transitions loaded, not from the machine's"
                    f" definition ({reason})"
                )
        at = history.cursor if 0 < history.cursor < len(rows) else -1
        assert chart is not None  # from the server, the bundle or the history
        state = session.snapshot.state
        self.app.push_screen(
            ChartScreen(
                f"The statechart of {safe(machine)}, with {safe(instance)}'s states lit",
                chart,
                note,
                rows,
                state.state if state is not None else None,
                at,
            )
        )

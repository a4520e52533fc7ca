"""The dashboard's admin flows: create, pause or resume, delete, versions and deploy, the
desired version, index queries. Each asks in a dialog (loaded when first opened), makes
the call, and says how it went; the dashboard (`DashboardScreen`) lays out the panes and
routes between them, and gives these flows what they act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from textual import work
from textual.screen import Screen

from smb_tui.api.errors import StateBackedError
from smb_tui.core.describe import version_label
from smb_tui.core.text import safe

if TYPE_CHECKING:
    from smb_tui.api.client import StateBackedClient
    from smb_tui.api.models import IndexEntry, MachineVersionInfo, Page
    from smb_tui.core.instance_session import InstanceSession


class AdminFlows(Screen[None]):
    """The admin keys' flows, on the dashboard they belong to."""

    machine: str | None  # the machine chosen
    session: InstanceSession | None  # the instance open

    @property
    def client(self) -> StateBackedClient:
        raise NotImplementedError

    def choose_machine(self, machine: str) -> None:
        raise NotImplementedError

    def open_instance(self, instance: str) -> None:
        raise NotImplementedError

    def _instance_gone(self, session: InstanceSession) -> None:
        raise NotImplementedError

    async def _versions_of(self, machine: str) -> tuple[list[MachineVersionInfo], str | None]:
        """Every version of `machine` (all pages) and the id of its current one."""
        versions = [v async for v in self.client.versions(machine)]
        current = (await self.client.get_machine(machine)).current_version
        return versions, current.id if current else None

    def action_new_instance(self) -> None:
        if self.machine is not None:
            self._new_instance(self.machine)

    @work(group="admin", exit_on_error=False)
    async def _new_instance(self, machine: str) -> None:
        from smb_tui.tui.screens.modals import NewInstance

        try:
            versions, current = await self._versions_of(machine)
        except StateBackedError:
            versions, current = [], None
        answer = await self.app.push_screen_wait(NewInstance(machine, versions, current))
        if answer is None:
            return
        slug, context, version = answer
        try:
            await self.client.create_instance(machine, slug, context, version)
        except StateBackedError as error:
            self.notify(f"Could not create {slug}: {safe(error)}", severity="error", markup=False)
            return
        self.notify(f"Created {machine}/{slug}", markup=False)
        self.choose_machine(machine)
        self.open_instance(slug)

    async def _confirmed(
        self, action: str, instance: str, call: Callable[[], Awaitable[None]], done: str
    ) -> bool:
        """Ask for the instance's name to be typed, make the call, and say how it went."""
        from smb_tui.tui.screens.modals import TypedConfirm

        if not await self.app.push_screen_wait(TypedConfirm(action, instance)):
            return False
        try:
            await call()
        except StateBackedError as error:
            self.notify(f"{action}: failed: {safe(error)}", severity="error", markup=False)
            return False
        self.notify(done, markup=False)
        return True

    def action_pause_resume(self) -> None:
        if self.session is not None:
            self._pause_resume(self.session)

    @work(group="admin", exit_on_error=False)
    async def _pause_resume(self, session: InstanceSession) -> None:
        machine, instance = session.machine, session.instance
        admin = session.snapshot.admin
        paused = admin is not None and admin.status == "paused"
        verb = "Resume" if paused else "Pause"
        status: Literal["running", "paused"] = "running" if paused else "paused"
        if not await self._confirmed(
            f"{verb} {machine}/{instance}",
            instance,
            lambda: self.client.set_instance_status(machine, instance, status),
            f"{verb}d {machine}/{instance}",
        ):
            return
        await session.read_admin()
        self.choose_machine(machine)

    def action_delete_instance(self) -> None:
        if self.session is not None:
            self._delete(self.session)

    @work(group="admin", exit_on_error=False)
    async def _delete(self, session: InstanceSession) -> None:
        machine, instance = session.machine, session.instance
        if not await self._confirmed(
            f"Delete {machine}/{instance} and its history forever",
            instance,
            lambda: self.client.delete_instance(machine, instance),
            f"Deleted {machine}/{instance}",
        ):
            return
        self._instance_gone(session)
        self.choose_machine(machine)

    def action_versions(self) -> None:
        if self.machine is not None:
            self._versions(self.machine, self.session)

    @work(group="admin", exit_on_error=False)
    async def _versions(self, machine: str, session: InstanceSession | None) -> None:
        from smb_tui.tui.screens.modals import DeployVersion, VersionsScreen

        try:
            versions, current = await self._versions_of(machine)
        except StateBackedError as error:
            self.notify(f"Could not list versions: {safe(error)}", severity="error", markup=False)
            return
        admin = session.snapshot.admin if session is not None else None
        running = admin.machine_version.id if admin and admin.machine_version else None
        desired = (
            admin.desired_machine_version.id if admin and admin.desired_machine_version else None
        )
        asked = await self.app.push_screen_wait(
            VersionsScreen(machine, versions, current, running, desired)
        )
        if asked != "deploy":
            return
        deploy = await self.app.push_screen_wait(DeployVersion(machine))
        if deploy is None:
            return
        name = safe(deploy.path.name)
        self.notify(f"Deploying {name} to {safe(machine)}…", markup=False)
        try:
            version_id = await self.client.create_version(
                machine,
                deploy.code,
                client_info=deploy.client_info,
                make_current=deploy.make_current,
            )
        except StateBackedError as error:
            self.notify(
                f"{name} was not deployed: {safe(error)}",
                severity="error",
                markup=False,
                timeout=15,
            )
            return
        current_note = " (current)" if deploy.make_current else ""
        self.notify(f"Deployed {name}: version {safe(version_id)}{current_note}", markup=False)
        self._versions(machine, session)  # the list again, with it

    def action_query_index(self) -> None:
        if self.machine is not None:
            self._query_index(self.machine)

    @work(group="admin", exit_on_error=False)
    async def _query_index(self, machine: str) -> None:
        from smb_tui.tui.screens.modals import QueryIndex

        try:
            indexes = (await self.client.get_machine(machine)).indexes
        except StateBackedError as error:
            self.notify(f"Could not read {machine}: {safe(error)}", severity="error", markup=False)
            return
        if not indexes:
            self.notify(f"{machine} has no indexes", markup=False)
            return

        async def query(
            index: str, op: str | None, value: str | None, direction: str, cursor: str | None
        ) -> Page[IndexEntry]:
            return await self.client.query_index(
                machine,
                index,
                value,
                op=op,  # type: ignore[arg-type]  # one of OPS, from the form
                direction="desc" if direction == "desc" else "asc",
                cursor=cursor,
            )

        slug = await self.app.push_screen_wait(QueryIndex(machine, indexes, query))
        if slug is not None and self.machine == machine:
            self.open_instance(slug)
            self.set_focus(self.query_one("#state-tree"))

    def action_desired_version(self) -> None:
        if self.session is not None:
            self._desired_version(self.session)

    @work(group="admin", exit_on_error=False)
    async def _desired_version(self, session: InstanceSession) -> None:
        from smb_tui.tui.screens.modals import ChooseVersion

        machine, instance = session.machine, session.instance
        try:
            versions, current = await self._versions_of(machine)
        except StateBackedError as error:
            self.notify(f"Could not list versions: {safe(error)}", severity="error", markup=False)
            return
        admin = session.snapshot.admin
        running = admin.machine_version.id if admin and admin.machine_version else None
        version_id = await self.app.push_screen_wait(
            ChooseVersion(instance, versions, current, running)
        )
        if version_id is None:
            return
        chosen = next((v for v in versions if v.id == version_id), None)
        label = safe(version_label(chosen)) if chosen else version_id
        if not await self._confirmed(
            f"Move {machine}/{instance} to version {label} at its next event",
            instance,
            lambda: self.client.set_desired_version(machine, instance, version_id),
            f"{instance} moves to {label} at its next event",
        ):
            return
        await session.read_admin()

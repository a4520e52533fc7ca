"""The app: composes the screens and routes between them. Behaviour lives in the widgets."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from smb_tui.api.client import StateBackedClient
from smb_tui.api.errors import ConfigurationError
from smb_tui.config import Connection
from smb_tui.tui.demo import DemoServer, start_demo
from smb_tui.tui.history_buffer import CacheUnavailable
from smb_tui.tui.history_cache import HistoryCache
from smb_tui.tui.screens.dashboard import DashboardScreen, typing_in
from smb_tui.tui.screens.not_connected import NotConnected


class SmbTui(App[None]):
    TITLE = "smb-tui"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(
        self,
        connection: Connection | None,
        *,
        reason: str = "nothing is configured",
        machine: str | None = None,
        instance: str | None = None,
        demo_server: DemoServer | None = None,
        cache_path: Path | None = None,
    ) -> None:
        """`cache_path`: where to keep fetched history (None: nowhere)."""
        super().__init__()
        self.cache_path = cache_path
        self.connection = connection
        self.reason = reason
        self.open_at_start = (machine, instance)
        self.demo_server = demo_server

    def on_mount(self) -> None:
        if self.connection is None:
            self.push_screen(NotConnected(self.reason))
            return
        try:
            dashboard = self._dashboard(self.connection)
        except ConfigurationError as error:
            self.push_screen(NotConnected(str(error)))
            return
        self.push_screen(dashboard)

    def _dashboard(self, connection: Connection) -> DashboardScreen:
        client = StateBackedClient(connection.auth, connection.base_url, org_id=connection.org_id)
        machine, instance = self.open_at_start
        cache = None
        if self.cache_path is not None:
            try:
                cache = HistoryCache(self.cache_path)
            except CacheUnavailable as error:
                self.notify(str(error), severity="warning", timeout=10, markup=False)
        return DashboardScreen(client, connection, machine, instance, cache)

    @on(NotConnected.DemoRequested)
    def _start_demo(self) -> None:
        self.demo_server, self.connection = start_demo()
        self.switch_screen(self._dashboard(self.connection))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "q" on a button or in a text box is not a request to quit.
        return not (action == "quit" and typing_in(self.focused))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                keys = ", ".join(
                    self.get_key_display(Binding(key.strip(), "")) for key in binding.key.split(",")
                )
                yield SystemCommand(
                    binding.tooltip or binding.description,
                    f"key: {binding.key_display or keys}",
                    partial(screen.run_action, binding.action),
                )

    def on_unmount(self) -> None:
        if self.demo_server is not None:
            self.demo_server.stop()

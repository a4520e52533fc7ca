"""The app: composes the screens and routes between them. Behaviour lives in the widgets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, AutopilotCallbackType, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.theme import Theme

from smb_tui.api.errors import ConfigurationError
from smb_tui.core.history_cache import CacheUnavailable, HistoryCache
from smb_tui.core.text import safe
from smb_tui.tui.demo import start_demo
from smb_tui.tui.screens.dashboard import DashboardScreen, typing_in
from smb_tui.tui.screens.not_connected import NotConnected
from smb_tui.tui.settings import load_theme, save_theme

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from smb_tui.api.client import StateBackedClient
    from smb_tui.config import Connection
    from smb_tui.tui.demo import DemoServer


def wants_no_colour(environ: Mapping[str, str]) -> bool:
    """NO_COLOR set (no-color.org: to anything), or a terminal that says it has none."""
    return "NO_COLOR" in environ or environ.get("TERM", "") in ("dumb", "unknown")


class DemoFailed(Message):
    """The demo's server could not start (posted from its thread)."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


STARTED = "as started"  # the profile switcher's name for where the app started


class DemoSeeded(Message):
    """The demo's server has seeded its new database (posted from its thread)."""


class SmbTui(App[None]):
    TITLE = "smb-tui"
    # The screens' stylesheets, read with the app's: a screen's own CSS_PATH is read when
    # it is first shown, and reading one parses every rule of the app again and restyles
    # every widget, before the dashboard's first frame and when the first dialog opens.
    # The screens keep theirs, for any other app (Textual reads a file once).
    CSS_PATH = ["screens/dashboard.tcss", "screens/modals/modals.tcss"]
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
        settings_path: Path | None = None,
        copy_to: Connection | None = None,
    ) -> None:
        """`cache_path`: where to keep fetched history; `settings_path`: where to remember
        the theme (None: nowhere, for both); `copy_to`: the local server `F` copies
        instances into (None: the dashboard's own server, when it is a local one)."""
        colourless = wants_no_colour(os.environ)
        if colourless:
            # Textual reads NO_COLOR from the environment as the app is made.
            os.environ.setdefault("NO_COLOR", "1")
        # ANSI mode, so that NO_COLOR strips colour (Textual's NoColor filter) rather than
        # turning the theme into greys of too little contrast (its Monochrome filter).
        super().__init__(ansi_color=True if colourless else None)
        self.settings_path = settings_path
        self.cache_path = cache_path
        self.connection = connection
        self.started_with = connection  # offered in the profile switcher, to come back to
        self.reason = reason
        self.open_at_start = (machine, instance)
        self.demo_server = demo_server
        self.copy_to = copy_to
        self._first_shown = asyncio.Event()

    def on_mount(self) -> None:
        if self.demo_server is not None:
            self._watch_demo(self.demo_server)
        saved = load_theme(self.settings_path) if self.settings_path is not None else None
        if saved is not None and saved in self.available_themes:
            self.theme = saved
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        first: Screen[Any]
        if self.connection is None:
            first = NotConnected(self.reason)
        else:
            # Its client is made once its first frame is out (a base URL that is not one
            # then puts NotConnected in its place: `_not_connected`).
            first = self._dashboard(self.connection)
        # Shown once the app has started, not from here: Textual starts an app inside a
        # batch of updates that holds every frame back, and a screen pushed now was drawn
        # in it (thrown away) and again after it, which ended only once the screen's own
        # start had run (0.1 s later to the first frame).
        self.call_later(self._show_first, first)

    def _show_first(self, screen: Screen[Any]) -> None:
        if not (self._closing or self._closed):  # else quit before it was shown
            self.push_screen(screen)
        self._first_shown.set()

    # What drives the app from outside (tests, screenshots) starts once the first screen
    # is shown, as it did when that came with the start.

    async def _until_first_shown(self, pilot: Pilot[Any]) -> None:
        shown = asyncio.ensure_future(self._first_shown.wait())
        running = {shown} if self._task is None else {shown, self._task}
        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)  # or it ended
        shown.cancel()
        await pilot.pause()

    @asynccontextmanager
    async def run_test(self, *args: Any, **kwargs: Any) -> AsyncIterator[Pilot[None]]:
        async with super().run_test(*args, **kwargs) as pilot:
            await self._until_first_shown(pilot)
            yield pilot

    async def run_async(
        self,
        *,
        headless: bool = False,
        inline: bool = False,
        inline_no_clear: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        auto_pilot: AutopilotCallbackType | None = None,
    ) -> None:
        driver = auto_pilot

        async def once_shown(pilot: Pilot[object]) -> None:
            await self._until_first_shown(pilot)
            if driver is not None:
                await driver(pilot)

        return await super().run_async(
            headless=headless,
            inline=inline,
            inline_no_clear=inline_no_clear,
            mouse=mouse,
            size=size,
            auto_pilot=None if auto_pilot is None else once_shown,
        )

    def _dashboard(
        self, connection: Connection, client: StateBackedClient | None = None
    ) -> DashboardScreen:
        machine, instance = self.open_at_start
        cache = None
        if self.cache_path is not None:
            try:
                cache = HistoryCache(self.cache_path)
            except CacheUnavailable as error:
                self.notify(str(error), severity="warning", timeout=10, markup=False)
        return DashboardScreen(connection, machine, instance, cache, client=client)

    @on(DashboardScreen.NotConnected)
    def _not_connected(self, event: DashboardScreen.NotConnected) -> None:
        self.switch_screen(NotConnected(event.why))

    @on(NotConnected.DemoRequested)
    def _start_demo(self) -> None:
        from smb_tui.install import server_needed

        why = server_needed("The demo")
        if why is not None:
            self.notify(why, title="Demo", severity="error", timeout=30, markup=False)
            return
        self.demo_server, self.connection = start_demo()
        self.started_with = self.connection
        self._watch_demo(self.demo_server)
        self.switch_screen(self._dashboard(self.connection))

    @on(DashboardScreen.ProfileSwitchRequested)
    def _choose_profile(self) -> None:
        from smb_tui.api.wire import PRODUCTION_URL
        from smb_tui.config import LOCAL_PROFILE, LOCAL_URL, ConfigError, read_profiles
        from smb_tui.tui.screens.modals import ChooseProfile

        if sum(isinstance(s, DashboardScreen) for s in self.screen_stack) > 1:
            self.notify("Back from the copy first (B).", markup=False)
            return
        try:
            profiles = read_profiles()
        except ConfigError as error:
            self.notify(safe(error), title="Profiles", severity="error", markup=False)
            return
        entries = [
            # A broken profile is listed; choosing it says what is wrong with it.
            (name, "✖ config.toml has it wrong" if p.broken else p.api_url or PRODUCTION_URL)
            for name, p in sorted(profiles.items())
        ]
        if LOCAL_PROFILE not in profiles:
            entries.append((LOCAL_PROFILE, f"{LOCAL_URL} (smb-tui local)"))
        started = self.started_with
        offer_start = started is not None and started.profile not in profiles
        if offer_start and started is not None:
            # Where the app started (the demo, flags, STATEBACKED_* variables): to come back.
            entries.insert(0, (STARTED, f"{started.base_url} ({started.profile or 'flags'})"))
        if offer_start and self.connection is started:
            in_use: str | None = STARTED
        else:
            in_use = self.connection.profile if self.connection is not None else None
        self.push_screen(
            ChooseProfile(entries, in_use), callback=partial(self._switch_profile, in_use)
        )

    def _switch_profile(self, in_use: str | None, name: str | None) -> None:
        """The dashboard anew on profile `name`: the profile alone, not the flags or
        STATEBACKED_* variables the app started with (they named the first one)."""
        from smb_tui.config import ConfigError, Profile, resolve

        if name is None or name == in_use:
            return
        try:
            connection = (
                self.started_with
                if name == STARTED and self.started_with is not None
                else resolve(Profile(), name, environ={})
            )
            # Its client made first: a bad base URL is said here, and nothing changes.
            dashboard = self._dashboard(connection, connection.client())
        except (ConfigError, ConfigurationError) as error:
            self.notify(
                f"Profile {safe(name)}: {safe(error)}", severity="error", timeout=10, markup=False
            )
            return
        self.connection = connection
        self.open_at_start = (None, None)
        self.switch_screen(dashboard)
        self.notify(f"Profile {safe(name)}: {safe(connection.base_url)}", markup=False)

    def _watch_demo(self, server: DemoServer) -> None:
        """The demo's server starts while the dashboard does: if it cannot, say why (its
        socket closes, and the panes say the server is unreachable)."""

        server.when_failed(lambda why: self.post_message(DemoFailed(why)))  # thread-safe
        # A new demo database is seeded after the server answers: lists read before then
        # lack the seeded instances, so they are read again (not left showing "(none)").
        server.when_said("seeded", lambda: self.post_message(DemoSeeded()))

    @on(DemoSeeded)
    def _demo_seeded(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen) and screen.connection is self.connection:
                screen.lists_changed()

    @on(DemoFailed)
    def _demo_failed(self, failure: DemoFailed) -> None:
        self.notify(safe(failure.why), title="Demo", severity="error", timeout=30, markup=False)

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

    def _theme_changed(self, theme: Theme) -> None:
        """After the CSS variables are those of the new theme."""
        if self.settings_path is not None:
            save_theme(self.settings_path, theme.name)
        # Rich text built before the change holds the old theme's colours (palette.tone).
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                screen.recolour()

    def on_unmount(self) -> None:
        if self.demo_server is not None:
            self.demo_server.stop()

"""Deploying a file as a new version from the versions dialog (V, then d)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input, Static

from smb_tui.api import StateBackedClient
from smb_tui.api.auth import KeyCredentials
from smb_tui.tui.screens.modals import DeployVersion, VersionsScreen
from tests.conftest import start_server
from tests.deploy.bundles import BROKEN, LAMP_V1, LAMP_V2
from tests.tui.helpers import make_app, wait_for


async def test_the_versions_dialog_deploys_a_file_and_says_a_refusal(tmp_path: Path) -> None:
    server = start_server(tmp_path, demo=False, machines_dir=None)
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "author"})
    (tmp_path / "v2.js").write_text(LAMP_V2)
    (tmp_path / "broken.js").write_text(BROKEN)
    try:
        async with StateBackedClient(credentials, server.base_url) as api:
            await api.create_machine("lamp")
            first = await api.create_version("lamp", LAMP_V1, make_current=True)
            app = make_app(server, "lamp")
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(0.5)

                async def deploy(path: str, current: bool) -> None:
                    await pilot.press("V")
                    await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen))
                    await pilot.press("d")
                    await wait_for(pilot, lambda: isinstance(app.screen, DeployVersion))
                    app.screen.query_one("#deploy-path", Input).value = path
                    app.screen.query_one("#deploy-info", Input).value = "from the dialog"
                    app.screen.query_one("#deploy-current", Checkbox).value = current
                    await pilot.press("ctrl+s")

                await deploy(str(tmp_path / "missing.js"), True)  # said in the dialog
                error = app.screen.query_one("#deploy-error", Static)
                assert "cannot read" in str(error.render())
                await pilot.press("escape")
                await wait_for(pilot, lambda: not isinstance(app.screen, DeployVersion))

                await deploy(str(tmp_path / "broken.js"), True)
                await wait_for(
                    pilot,
                    lambda: any("not deployed" in str(n.message) for n in app._notifications),
                    what="the refusal",
                )
                assert [v.id async for v in api.versions("lamp")] == [first]

                await deploy(str(tmp_path / "v2.js"), True)
                await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen), timeout=15)
                await wait_for(pilot, lambda: len(app.screen.versions) == 2, what="2 versions")
                machine = await api.get_machine("lamp")
                assert machine.current_version is not None
                assert machine.current_version.client_info == "from the dialog"
                assert (await api.create_instance("lamp", "new")).state == "dark"
    finally:
        server.stop()

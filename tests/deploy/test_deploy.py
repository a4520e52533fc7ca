"""Deploying to the local server as to State Backed: machines, versions and migrations
through the three steps the official client takes, the upload URL, the limits, and what a
restart keeps. Bundles import `npm:xstate`, as State Backed's docs build them."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from smb_tui.api import StateBackedClient
from smb_tui.api.auth import KeyCredentials
from smb_tui.api.errors import BadRequest, InvalidState, NotFound
from smb_tui.api.wire import delete_confirmation
from smb_tui.cli import main as cli
from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import client, npm_folder, start_server, unique
from tests.deploy.bundles import BROKEN, LAMP_V1, LAMP_V1_TO_V2, LAMP_V2, LAMP_V2_TO_V1

OFFICIAL_CLIENT = ["@statebacked/client@0.1.37"]
NODE_CACHE = Path(__file__).parent.parent.parent / ".build" / "statebacked-client"


@pytest.fixture
async def api(deploy_server: ServerThread) -> AsyncIterator[StateBackedClient]:
    credentials = KeyCredentials(
        deploy_server.key.key_id, deploy_server.key.secret, {"sub": "author"}
    )
    async with StateBackedClient(credentials, deploy_server.base_url) as session:
        yield session


def provisional(http: httpx.Client, machine: str) -> dict[str, object]:
    answer = http.post(f"/machines/{machine}/v?gzip", headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def upload(reserved: dict[str, object], data: bytes, gzipped: bool = True) -> httpx.Response:
    fields = {**reserved["codeUploadFields"], "content-type": "application/javascript"}  # type: ignore[dict-item]
    if gzipped:
        fields["content-encoding"] = "gzip"
    return httpx.post(
        str(reserved["codeUploadUrl"]),
        data=fields,
        files={"file": ("m.js", data, "application/javascript")},
    )


async def test_a_deployed_version_runs_and_a_restart_still_serves_it(tmp_path: Path) -> None:
    server = start_server(tmp_path, demo=False, machines_dir=None)
    credentials = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "author"})
    try:
        async with StateBackedClient(credentials, server.base_url) as api:
            await api.create_machine("lamp")
            assert (await api.get_machine("lamp")).current_version is None
            steps: list[str] = []
            version = await api.create_version(
                "lamp", LAMP_V1, client_info="1.0.0", make_current=True, progress=steps.append
            )
            assert steps[0] == "reserving a version" and steps[-1] == "finalizing"
            machine = await api.get_machine("lamp")
            assert machine.current_version is not None
            assert machine.current_version.id == version
            assert (await api.create_instance("lamp", "one")).state == "off"
            assert (await api.send_event("lamp", "one", "flip")).state == "on"
            # A second version with migrations both ways, the instance not yet moved.
            second = await api.create_version("lamp", LAMP_V2)
            await api.create_migration("lamp", version, second, LAMP_V1_TO_V2)
            await api.create_migration("lamp", second, version, LAMP_V2_TO_V1)
    finally:
        server.stop()
    again = start_server(tmp_path, demo=False, machines_dir=None, key=server.key)
    try:
        async with StateBackedClient(credentials, again.base_url) as api:
            assert (await api.send_event("lamp", "one", "flip")).state == "off"
            admin = await api.get_instance_admin("lamp", "one")
            assert admin.context == {"public": {"flips": 2}}
            versions = [v.id async for v in api.versions("lamp")]
            assert sorted(versions) == sorted([version, second])
            # The restored migrations lead there and back.
            await api.set_desired_version("lamp", "one", second)
            assert (await api.send_event("lamp", "one", "flip")).state == {"lit": "bright"}
            await api.set_desired_version("lamp", "one", version)
            assert (await api.send_event("lamp", "one", "flip")).state == "off"
    finally:
        again.stop()


async def test_a_bundle_that_does_not_load_is_a_400_naming_the_error_and_changes_nothing(
    api: StateBackedClient,
) -> None:
    machine = unique("broken")
    await api.create_machine(machine)
    good = await api.create_version(machine, LAMP_V1, make_current=True)
    for code, said in (
        (BROKEN, "SyntaxError"),
        ('import{x}from"lodash";export{x as default};', "only npm:xstate"),
        ("export{};", "not an XState machine"),
        ("export default 42;", "esbuild --bundle --format=esm"),  # not as a bundler writes it
    ):
        with pytest.raises(BadRequest) as refused:
            await api.create_version(machine, code, make_current=True)
        assert said in str(refused.value)
        assert "nothing was stored" in str(refused.value)
    assert [v.id async for v in api.versions(machine)] == [good]
    assert (await api.get_machine(machine)).current_version.id == good  # type: ignore[union-attr]


async def test_make_current_false_keeps_the_current_version(
    api: StateBackedClient, deploy_server: ServerThread
) -> None:
    machine = unique("lamp")
    await api.create_machine(machine)
    first = await api.create_version(machine, LAMP_V1)  # the first is current regardless
    second = await api.create_version(machine, LAMP_V2, make_current=False)
    assert (await api.get_machine(machine)).current_version.id == first  # type: ignore[union-attr]
    assert (await api.create_instance(machine, "old")).state == "off"
    with client(deploy_server) as http:
        made = http.post(f"/machines/{machine}", json={"slug": "new", "machineVersionId": second})
        assert made.json()["state"] == "dark"
    await api.create_version(machine, LAMP_V2, make_current=True)
    assert (await api.create_instance(machine, "newest")).state == "dark"


async def test_a_migration_deployed_with_the_client_upgrades_an_instance(
    api: StateBackedClient,
) -> None:
    machine = unique("lamp")
    await api.create_machine(machine)
    v1 = await api.create_version(machine, LAMP_V1, make_current=True)
    v2 = await api.create_version(machine, LAMP_V2)
    await api.create_instance(machine, "one")
    await api.send_event(machine, "one", "flip")
    with pytest.raises(BadRequest, match="no migrations lead"):
        await api.set_desired_version(machine, "one", v2)
    with pytest.raises(BadRequest, match="not to itself"):
        await api.create_migration(machine, v1, v1, LAMP_V1_TO_V2)
    await api.create_migration(machine, v1, v2, LAMP_V1_TO_V2)
    await api.set_desired_version(machine, "one", v2)
    after = await api.send_event(machine, "one", "dim")
    assert after.state == {"lit": "dimmed"}
    assert after.public_context == {"switched": 1, "migrated": True}
    # And back: migrations are edges of a graph, not steps forward only.
    with pytest.raises(BadRequest, match="no migrations lead"):
        await api.set_desired_version(machine, "one", v1)
    await api.create_migration(machine, v2, v1, LAMP_V2_TO_V1)
    await api.set_desired_version(machine, "one", v1)
    back = await api.send_event(machine, "one", "flip")
    assert back.state == "off" and back.public_context == {"flips": 2}


def test_the_upload_url_takes_one_upload_with_its_fields_and_no_token(
    deploy_server: ServerThread,
) -> None:
    machine = unique("lamp")
    with client(deploy_server) as http:
        assert http.post("/machines", json={"slug": machine}).status_code == 201
        assert http.post("/machines", json={"slug": machine}).status_code == 409
        reserved = provisional(http, machine)
        url = str(reserved["codeUploadUrl"])
        assert url.startswith(deploy_server.base_url + "/uploads/")
        bare = httpx.post(url, files={"file": ("m.js", gzip.compress(LAMP_V1.encode()))})
        assert bare.status_code == 403 and "codeUploadFields" in bare.json()["error"]
        assert upload(reserved, gzip.compress(LAMP_V1.encode())).status_code == 204
        again = upload(reserved, gzip.compress(LAMP_V2.encode()))
        assert again.status_code == 403 and "used" in again.json()["error"]
        wrong = http.put(f"/machines/{machine}/v/{reserved['machineVersionId']}x", json={})
        assert wrong.status_code == 400
        final = http.put(
            f"/machines/{machine}/v/{reserved['machineVersionId']}",
            json={"clientInfo": "1", "makeCurrent": True},
        )
        assert final.status_code == 200, final.text
        twice = http.put(f"/machines/{machine}/v/{reserved['machineVersionId']}", json={})
        assert twice.status_code == 400 and "finalized already" in twice.json()["error"]
        # A finalize before any upload says so.
        early = provisional(http, machine)
        refused = http.put(f"/machines/{machine}/v/{early['machineVersionId']}", json={})
        assert refused.status_code == 400 and "upload" in refused.json()["error"]
    with httpx.Client(base_url=deploy_server.base_url) as anonymous:
        assert anonymous.post("/machines", json={"slug": unique("x")}).status_code == 403
        assert anonymous.post(f"/machines/{machine}/v").status_code == 403


def test_bundles_past_state_backeds_limits_are_refused(deploy_server: ServerThread) -> None:
    machine = unique("big")
    with client(deploy_server) as http:
        http.post("/machines", json={"slug": machine})
        bomb = gzip.compress(b" " * (10 * 1024 * 1024 + 10))  # 10 KB that unzips to 10 MB+
        answer = upload(provisional(http, machine), bomb)
        assert answer.status_code == 400 and "10 MB" in answer.json()["error"]
        noise = os.urandom(1024 * 1024 + 100)  # does not compress: past 1 MB gzipped
        answer = upload(provisional(http, machine), noise)
        assert answer.status_code == 400 and "1 MB" in answer.json()["error"]
        answer = upload(provisional(http, machine), b"\xff\xfe not text", gzipped=False)
        assert answer.status_code == 400 and "UTF-8" in answer.json()["error"]
        answer = upload(provisional(http, machine), b"not gzip at all")
        assert answer.status_code == 400 and "gzip" in answer.json()["error"]
        assert http.get(f"/machines/{machine}/v").json()["versions"] == []


def test_index_selectors_are_jsonpath_and_fall_back_to_the_current_versions(
    deploy_server: ServerThread,
) -> None:
    machine = unique("lamp")
    with client(deploy_server) as http:
        http.post("/machines", json={"slug": machine, "indexes": ["flips"]})
        for selectors, said in (({}, "flips"), ({"flips": "public.flips"}, "JSONPath")):
            reserved = provisional(http, machine)
            upload(reserved, gzip.compress(LAMP_V1.encode()))
            body = {"makeCurrent": True, "indexSelectors": selectors}
            refused = http.put(f"/machines/{machine}/v/{reserved['machineVersionId']}", json=body)
            assert refused.status_code == 400 and said in refused.json()["error"]
        reserved = provisional(http, machine)
        upload(reserved, gzip.compress(LAMP_V1.encode()))
        body = {"makeCurrent": True, "indexSelectors": {"flips": "$.public['flips']"}}
        assert http.put(f"/machines/{machine}/v/{reserved['machineVersionId']}", json=body)
        reserved = provisional(http, machine)  # no selectors: the current version's
        upload(reserved, gzip.compress(LAMP_V1.encode()))
        made = http.put(
            f"/machines/{machine}/v/{reserved['machineVersionId']}", json={"makeCurrent": True}
        )
        assert made.status_code == 200, made.text
        http.post(f"/machines/{machine}", json={"slug": "a"})
        http.post(f"/machines/{machine}/i/a/events", json={"event": "flip"})
        found = http.get(
            f"/machines/{machine}/indexes/flips/query", params={"op": "eq", "value": "1"}
        ).json()
        assert [entry["slug"] for entry in found["instances"]] == ["a"]


def test_an_array_fans_out_into_one_index_entry_per_element(deploy_server: ServerThread) -> None:
    machine = unique("tagged")
    with client(deploy_server) as http:
        http.post("/machines", json={"slug": machine, "indexes": ["tag", "first"]})
        reserved = provisional(http, machine)
        upload(reserved, gzip.compress(LAMP_V1.encode()))
        selectors = {"tag": "$.tags[*]", "first": "$.tags[0]"}
        body = {"makeCurrent": True, "indexSelectors": selectors}
        made = http.put(f"/machines/{machine}/v/{reserved['machineVersionId']}", json=body)
        assert made.status_code == 200, made.text
        for slug, tags in (("a", ["red", "blue", "red"]), ("b", ["blue"]), ("c", [])):
            context = {"public": {"flips": 0}, "tags": tags}
            created = http.post(f"/machines/{machine}", json={"slug": slug, "context": context})
            assert created.status_code == 200, created.text

        def query(index: str, **params: str) -> list[tuple[str, str]]:
            found = http.get(f"/machines/{machine}/indexes/{index}/query", params=params).json()
            return [(entry["slug"], entry["indexValue"]) for entry in found["instances"]]

        assert query("tag", op="eq", value="red") == [("a", "red")]  # once, not twice
        assert query("tag", op="eq", value="blue") == [("a", "blue"), ("b", "blue")]
        assert query("tag") == [("a", "blue"), ("b", "blue"), ("a", "red")]
        assert query("first") == [("b", "blue"), ("a", "red")]
        http.post(f"/machines/{machine}/i/a/events", json={"event": "flip"})
        assert query("tag", op="eq", value="red") == [("a", "red")]  # kept, not doubled


async def test_a_machine_is_deleted_only_without_instances(
    api: StateBackedClient, deploy_server: ServerThread
) -> None:
    machine = unique("gone")
    await api.create_machine(machine)
    await api.create_version(machine, LAMP_V1)
    await api.create_instance(machine, "one")
    with pytest.raises(InvalidState, match="still has instances"):
        await api.delete_machine(machine)
    await api.delete_instance(machine, "one")
    with client(deploy_server) as http:
        wrong = http.request(
            "DELETE",
            f"/machines/{machine}",
            json={
                "dangerDataWillBeDeletedForever": True,
                "hmacSha256OfMachineNameWithMachineNameKey": delete_confirmation("x", machine),
            },
        )
        assert wrong.status_code == 400
    await api.delete_machine(machine)
    with pytest.raises(NotFound):
        await api.get_machine(machine)
    await api.create_machine(machine)  # the name is free again


def test_smb_tui_deploy_creates_deploys_and_says_each_refusal(
    deploy_server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = unique("lamp")
    v1, v2, migration = tmp_path / "v1.js", tmp_path / "v2.js", tmp_path / "m.js"
    v1.write_text(LAMP_V1)
    v2.write_text(LAMP_V2)
    migration.write_text(LAMP_V1_TO_V2)
    connect = [
        "--api-url",
        deploy_server.base_url,
        "--key-id",
        deploy_server.key.key_id,
        "--secret",
        deploy_server.key.secret,
    ]
    assert cli([*connect, "deploy", machine, str(v1), "--make-current"]) == 0
    first = capsys.readouterr()
    old = first.out.strip()
    assert "creating it" in first.err and "(current)" in first.err
    assert deploy_server.key.secret not in first.err + first.out
    assert cli([*connect, "deploy", machine, str(v2), "--migration-from", old, str(migration)]) == 0
    new = capsys.readouterr().out.strip()
    assert new.startswith("mv_") and new != old
    broken = tmp_path / "broken.js"
    broken.write_text(BROKEN)
    assert cli([*connect, "deploy", machine, str(broken)]) == 1
    assert "SyntaxError" in capsys.readouterr().err
    assert cli([*connect, "deploy", machine, str(tmp_path / "missing.js")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with client(deploy_server) as http:
        http.post(f"/machines/{machine}", json={"slug": "a", "machineVersionId": old})
        http.put(f"/machines/{machine}/i/a/v", json={"targetMachineVersionId": new})
        after = http.post(f"/machines/{machine}/i/a/events", json={"event": "flip"}).json()
        assert after["state"] == {"lit": "bright"}


def test_the_health_endpoint_answers_without_a_token(deploy_server: ServerThread) -> None:
    answer = httpx.get(f"{deploy_server.base_url}/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def official_client() -> Path:
    """A folder with @statebacked/client installed (npm, once)."""
    return npm_folder(NODE_CACHE, OFFICIAL_CLIENT, "@statebacked/client", "the official client")


def test_the_official_client_deploys_versions_and_migrations(
    deploy_server: ServerThread, tmp_path: Path
) -> None:
    folder = official_client()
    script = folder / "official_client.mjs"  # beside node_modules, where node finds it
    shutil.copyfile(Path(__file__).parent / "official_client.mjs", script)
    paths = []
    for name, code in (("v1.js", LAMP_V1), ("v2.js", LAMP_V2), ("m.js", LAMP_V1_TO_V2)):
        (tmp_path / name).write_text(code)
        paths.append(str(tmp_path / name))
    machine = unique("official")
    ran = subprocess.run(
        ["node", str(script), machine, *paths],
        env={
            **os.environ,
            "SMB_URL": deploy_server.base_url,
            "SMB_TOKEN": sign_key_token(deploy_server.key, {"sub": "author"}),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    assert seen["created"]["state"] == "off"
    assert seen["flipped"]["state"] == "on"
    assert seen["upgraded"]["state"] == {"lit": "dimmed"}
    assert seen["upgraded"]["publicContext"] == {"switched": 1, "migrated": True}
    assert seen["migrated"]["machineVersionMigrationId"].startswith("mm_")
    assert len(seen["versions"]["versions"]) == 2
    assert seen["refused"]["status"] == 400 and "SyntaxError" in seen["refused"]["message"]

"""The same event sequences through real node + XState's interpreter and through
`smb-tui local`: the same state values, contexts, `done` and tags after every event.
Also: the demo's committed XState bundles are what the repo's sources build to.
Skipped (with the reason) without node and npm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from smb_tui.local.demo import DEMO_MODULES
from smb_tui.local.xstate_build import BuildUnavailable, build_tree, toolchain
from tests.conftest import client, start_server, unique
from tests.local.conftest import BUILD_CACHE, SOURCES

DEMO_SOURCES = DEMO_MODULES.parent / "xstate_src"
# (machine, version label or None for the current one, initial context, events)
SEQUENCES: list[tuple[str, str | None, dict[str, object], list[object]]] = [
    (
        "door",
        None,
        {},
        [
            "lock",
            {"type": "unlock", "code": "nope"},
            {"type": "unlock", "code": "hinge-code"},
            "open",
            "close",
            "smash",
            "open",
        ],
    ),
    ("door", None, {}, ["kick", "open", "close", "kick", "kick", "kick"]),
    (
        "errands",
        None,
        {},
        ["fail", {"type": "wait", "ms": 5}, "time", "listen", "digest", "orphan"],
    ),
    # The web APIs against node's own: intervals, HMAC, structuredClone, AbortController,
    # Blob, FormData, Request and Response.
    ("errands", None, {}, ["moreWeb", "bodies", "tellSelf", "seal"]),
    ("lamp", "v1", {}, ["flip", "flip", "flip"]),
    ("lamp", "v2", {}, ["flip", "dim", "flip", "flip"]),
    (
        "ticket",
        None,
        {"reporter": "alice", "public": {"title": "Site down", "comments": 0}},
        [
            {"type": "assign", "assignee": ""},
            {"type": "assign", "assignee": "bob"},
            "comment",
            "resolve",
            "reopen",
            "unassign",
        ],
    ),
    ("pomodoro", None, {}, ["start", "interrupt", "start", "stop", "stop"]),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("machines")
    try:
        build_tree(SOURCES, out, BUILD_CACHE)
        build_tree(DEMO_SOURCES, out, BUILD_CACHE)
    except BuildUnavailable as error:
        pytest.skip(str(error))
    return out


def test_the_demo_bundles_are_built_from_the_repos_sources(built: Path) -> None:
    for bundle in sorted(DEMO_MODULES.glob("*.js")):
        assert (built / bundle.name).read_text() == bundle.read_text(), (
            f"{bundle} is not what {DEMO_SOURCES} builds to: run"
            " python -m smb_tui.local.xstate_build smb_tui/local/demo/xstate_src"
            " smb_tui/local/demo/xstate"
        )
    assert sorted(p.stem for p in DEMO_MODULES.glob("*.js")) == sorted(
        p.stem for p in DEMO_SOURCES.glob("*.ts") if not p.name.startswith("_")
    )


def in_node(module: Path, context: dict[str, object], events: list[object]) -> list[dict]:
    runner = BUILD_CACHE / "_differential.mjs"  # beside node_modules, where xstate is
    toolchain(BUILD_CACHE)
    shutil.copyfile(SOURCES / "_differential.mjs", runner)
    done = subprocess.run(
        ["node", str(runner), str(module), json.dumps([{"context": context, "events": events}])],
        cwd=BUILD_CACHE,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    [steps] = json.loads(done.stdout.strip().splitlines()[-1])
    return steps


def in_local(
    http: httpx.Client, machine: str, label: str | None, context: dict[str, object], events: list
) -> list[dict]:
    body: dict[str, object] = {"slug": unique(machine), "context": context}
    if label is not None:
        versions = http.get(f"/machines/{machine}/v").json()["versions"]
        body["machineVersionId"] = {v["clientInfo"]: v["id"] for v in versions}[label]
    slug = str(body["slug"])
    created = http.post(f"/machines/{machine}", json=body)
    assert created.status_code == 200, created.text

    def view() -> dict:
        state = http.get(f"/machines/{machine}/i/{slug}").json()
        admin = http.get(f"/machines/{machine}/i/{slug}/admin").json()
        return {
            "value": state["state"],
            "context": admin["context"],
            "done": state["done"],
            "tags": sorted(state["tags"]),
        }

    steps = [view()]
    for event in events:
        answer = http.post(f"/machines/{machine}/i/{slug}/events", json={"event": event})
        assert answer.status_code == 200, answer.text
        steps.append(view())
    return steps


@pytest.mark.parametrize(
    ("machine", "label", "context", "events"),
    SEQUENCES,
    ids=[f"{m}-{label or 'current'}" for m, label, _, _ in SEQUENCES],
)
def test_local_matches_node_and_xstate(
    built: Path,
    tmp_path: Path,
    machine: str,
    label: str | None,
    context: dict[str, object],
    events: list[object],
) -> None:
    folder = built / machine
    module = folder / f"{label}.js" if label else built / f"{machine}.js"
    expected = in_node(module, context, events)
    with (
        start_server(tmp_path, machines_dir=built, demo=False) as server,
        client(server, sub="alice") as http,  # the ticket reporter may read it
    ):
        actual = in_local(http, machine, label, context, events)
    assert actual == expected

"""The same event sequences through real node + XState's interpreter and through
`smb-tui local`: the same state values, contexts, `done` and tags after every event.
Also: the demo's committed XState bundles are what the repo's sources build to.
Skipped (with the reason) without node and npm."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
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
    # Blob, FormData, Request and Response. A send to no parent, or to no such child, throws
    # in XState's interpreter: the event fails and changes nothing.
    ("errands", None, {}, ["moreWeb", "bodies", "tellSelf", "tellParent", "seal", "tellNobody"]),
    # crypto.subtle's keys: RSA, ECDSA, ECDH, AES-CBC/CTR, PBKDF2, HKDF, jwk/spki/pkcs8/raw.
    ("errands", None, {}, ["keys", "forms"]),
    # Ephemeral actors within one event: a spawned machine (sendParent, done data), a promise,
    # a callback, an observable, an invoked machine with data, a delayed send in a child.
    ("crew", None, {}, ["hire", "promise", "callback", "observe", "delegate", "hireSlow"]),
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


def source_of(machine: str, label: str | None = None) -> Path:
    name = f"{machine}/{label}.ts" if label else f"{machine}.ts"
    [found] = [folder / name for folder in (SOURCES, DEMO_SOURCES) if (folder / name).is_file()]
    return found


REFERENCE_FLAGS = ["--bundle", "--format=esm", "--external:xstate", "--log-level=error"]


def reference(source: Path) -> Path:
    """The module as node runs it for the reference: bundled with xstate left out, so that
    the machine and node's interpreter share one XState (a bundle's own copy has a service
    stack that node's interpreter never fills, and its `spawn` would start nothing)."""
    esbuild = toolchain(BUILD_CACHE)
    out = BUILD_CACHE / "reference" / f"{os.getpid()}" / source.parent.name / f"{source.stem}.mjs"
    subprocess.run(
        [str(esbuild), str(source), *REFERENCE_FLAGS, f"--outfile={out}"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def in_node(source: Path, context: dict[str, object], events: list[object]) -> list[dict]:
    runner = BUILD_CACHE / "_differential.mjs"  # beside node_modules, where xstate is
    module = reference(source)
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
        if answer.status_code == 200:
            steps.append(view())
        else:
            assert answer.json()["code"] == "machine-error", answer.text
            steps.append({**view(), "failed": True})
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
    expected = in_node(source_of(machine, label), context, events)
    with (
        start_server(tmp_path, machines_dir=built, demo=False) as server,
        client(server, sub="alice") as http,  # the ticket reporter may read it
    ):
        actual = in_local(http, machine, label, context, events)
    assert actual == expected


# Events between persistent instances: (steps, watched instances). A step makes an instance
# (`context`) or sends one an event; the views of the watched ones are compared after each.
INSTANCE_SEQUENCES: dict[str, tuple[list[dict[str, object]], list[tuple[str, str]], set[str]]] = {
    # State Backed's headless rating component: raters send to an item's aggregate, which
    # is made by the first rating and takes each rating once, in order.
    "ratings": (
        [
            {"machine": "rater", "instance": "r1", "context": {"item": "i1"}},
            {"machine": "rater", "instance": "r1", "event": {"type": "rate", "rating": 4}},
            {"machine": "rater", "instance": "r2", "context": {"item": "i1"}},
            {"machine": "rater", "instance": "r2", "event": {"type": "rate", "rating": 5}},
            {"machine": "rater", "instance": "r1", "event": {"type": "rate", "rating": 1}},
        ],
        [("rater", "r1"), ("rater", "r2"), ("aggregate", "i1")],
        {"rater", "aggregate"},
    ),
    # A spawned persistent child greeted by ref, by local id and after a delay, which says hi
    # to its parent with sendParent.
    "family": (
        [
            {"machine": "family", "instance": "f1", "context": {}},
            {"machine": "family", "instance": "f1", "event": "run"},
            {"machine": "family", "instance": "f1", "event": "again"},
            {"machine": "family", "instance": "f1", "event": "later"},
        ],
        [("family", "f1")],
        {"family", "kid"},
    ),
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def without_uuids(value: object) -> object:
    """Names made with crypto.randomUUID differ between the runs: compared as "<uuid>"."""
    return json.loads(UUID.sub("<uuid>", json.dumps(value)))


def instances_in_node(
    steps: list[dict[str, object]], watch: list, machines: set[str]
) -> list[dict]:
    runner = BUILD_CACHE / "_instances.mjs"
    shutil.copyfile(SOURCES / "_instances.mjs", runner)
    request = {
        "modules": {name: str(reference(source_of(name))) for name in machines},
        "steps": steps,
        "watch": watch,
    }
    done = subprocess.run(
        ["node", str(runner), json.dumps(request)],
        cwd=BUILD_CACHE,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    results: list[dict] = json.loads(done.stdout.strip().splitlines()[-1])
    return [without_uuids(result) for result in results]  # type: ignore[misc]


def instance_view(http: httpx.Client, machine: str, slug: str) -> dict[str, object] | None:
    state = http.get(f"/machines/{machine}/i/{slug}")
    if state.status_code == 404:
        return None
    admin = http.get(f"/machines/{machine}/i/{slug}/admin").json()
    return {
        "value": state.json()["state"],
        "context": admin["context"],
        "done": state.json()["done"],
    }


@pytest.mark.parametrize("name", sorted(INSTANCE_SEQUENCES))
def test_events_between_instances_match_a_reference_in_node(
    built: Path, tmp_path: Path, name: str
) -> None:
    steps, watch, machines = INSTANCE_SEQUENCES[name]
    expected = instances_in_node(steps, watch, machines)
    with (
        start_server(tmp_path, machines_dir=built, demo=False) as server,
        client(server, sub="alice") as http,
    ):
        for step, wanted in zip(steps, expected, strict=True):
            machine, slug = str(step["machine"]), str(step["instance"])
            if "event" in step:
                answer = http.post(
                    f"/machines/{machine}/i/{slug}/events", json={"event": step["event"]}
                )
            else:
                answer = http.post(
                    f"/machines/{machine}", json={"slug": slug, "context": step["context"]}
                )
            failed = answer.status_code != 200

            def seen(failed: bool = failed) -> dict[str, object]:
                views = [instance_view(http, m, s) for m, s in watch]
                return without_uuids({"failed": failed, "views": views})  # type: ignore[return-value]

            # Deliveries follow the sender's commit: wait until they have landed.
            deadline = time.monotonic() + 5
            while seen() != wanted and time.monotonic() < deadline:
                time.sleep(0.05)
            assert seen() == wanted, step

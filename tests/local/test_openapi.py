"""`/openapi.json` says what the server really does, and schemathesis holds it to that."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smb_tui.api.models import STOPPED_SERVICES_HEADER
from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import start_server

# A bounded run: about half a minute on two cores. SCHEMATHESIS_EXAMPLES=1000 digs deeper.
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "60")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261123")


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A server of its own: schemathesis creates, pauses and sends to what it finds."""
    server = start_server(tmp_path_factory.mktemp("openapi"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def document(own_server: ServerThread) -> dict[str, Any]:
    response = httpx.get(f"{own_server.base_url}/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_errors_are_documented_as_answered_never_422(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        assert "422" not in statuses, (method, path)
        if "State Backed only" in operation["summary"]:
            assert statuses == {"501"}, (method, path)
            continue
        assert {"400", "403"} <= statuses, (method, path)
        if "{machineSlug}" in path:
            assert "404" in statuses, (method, path)
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}
    send = document["paths"]["/machines/{machineSlug}/i/{instanceSlug}/events"]["post"]
    assert {"409", "500"} <= set(send["responses"])
    assert STOPPED_SERVICES_HEADER in send["responses"]["200"]["headers"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_answers_have_their_models(document: dict[str, Any]) -> None:
    def model(path: str, method: str = "get") -> str:
        answer = document["paths"][path][method]["responses"]["200"]
        return str(answer["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[1]

    assert model("/machines") == "MachinesPage"
    assert model("/machines/{machineSlug}/i/{instanceSlug}") == "State"
    assert model("/machines/{machineSlug}/i/{instanceSlug}/events", "post") == "State"
    assert model("/machines/{machineSlug}/i/{instanceSlug}/events") == "TransitionsPage"
    assert model("/logs") == "Logs"
    assert model("/tokens", "post") == "TokenResponse"
    state = document["components"]["schemas"]["State"]
    assert {"ts", "state", "publicContext", "tags", "done"} <= set(state["properties"])


def test_auth_is_a_bearer_scheme_and_the_headers_are_named(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert list(schemes.values()) == [
        {"type": "http", "scheme": "bearer", "description": schemes["HTTPBearer"]["description"]}
    ]
    for path, method, operation in operations(document):
        if path == "/tokens" or "State Backed only" in operation["summary"]:
            assert "security" not in operation
            continue
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"x-statebacked-org-id", "x-statebacked-act"}, (method, path)


def test_tokens_takes_a_form(document: dict[str, Any]) -> None:
    body = document["paths"]["/tokens"]["post"]["requestBody"]
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["required"]) == {"grant_type", "audience", "subject_token"}


def test_an_undeclared_method_is_405_with_allow(own_server: ServerThread) -> None:
    response = httpx.put(f"{own_server.base_url}/tokens")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]


def test_schemathesis_finds_no_5xx_and_nothing_the_document_does_not_say(
    own_server: ServerThread, tmp_path: Path
) -> None:
    token = sign_key_token(own_server.key, {"sub": "schemathesis"})
    command = [
        *(sys.executable, "-m", "schemathesis.cli"),
        *("--config-file", str(Path(__file__).with_name("schemathesis.toml"))),
        "run",
        f"{own_server.base_url}/openapi.json",
        *("--header", f"Authorization: Bearer {token}"),
        *("--checks", "all"),
        # State Backed answers a missing token 403 ("The request was unauthorized", its
        # API reference), as the server does; schemathesis wants 401 for that.
        *("--exclude-checks", "missing_required_header,positive_data_acceptance"),
        # positive_data_acceptance: schema-valid is not always valid. `x-statebacked-act`
        # holds JSON, cursors are signed, `from` is a time, events are plain JSON: a
        # documented 400, which that check counts as a failure.
        *("--max-examples", EXAMPLES),
        *("--seed", SEED),
        "--no-color",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]

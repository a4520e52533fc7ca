"""Auth as State Backed does it: key tokens, end-user claims, anonymous sessions, orgs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from smb_tui.api.wire import AUDIENCE, anonymous_audience
from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import client, start_server, unique


def get(server: ServerThread, path: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(
        server.base_url + path, headers={"authorization": f"Bearer {token}", **headers}
    )


def test_a_key_token_works(server: ServerThread) -> None:
    token = sign_key_token(server.key, {"sub": "demo-user"})
    assert get(server, "/machines", token).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Basic abc"}, {"authorization": "Bearer not-a-jwt"}],
)
def test_no_or_garbled_token_is_403(server: ServerThread, headers: dict[str, str]) -> None:
    response = httpx.get(server.base_url + "/machines", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]


def test_a_token_from_another_key_is_403(server: ServerThread) -> None:
    other = LocalKey.generate()
    response = get(server, "/machines", sign_key_token(other, {"sub": "u"}))
    assert response.status_code == 403
    assert "key" in response.json()["error"]
    forged = LocalKey(server.key.key_id, "not-the-secret")
    assert get(server, "/machines", sign_key_token(forged, {"sub": "u"})).status_code == 403


def test_an_expired_token_is_403(server: ServerThread) -> None:
    token = sign_key_token(server.key, {"sub": "u"}, expires_in=-10)
    response = get(server, "/machines", token)
    assert response.status_code == 403
    assert "expired" in response.json()["error"]


def test_a_token_verified_once_is_refused_once_it_expires(server: ServerThread) -> None:
    token = sign_key_token(server.key, {"sub": "u"}, expires_in=2)
    assert get(server, "/machines", token).status_code == 200
    assert get(server, "/machines", token).status_code == 200  # from the verified tokens
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    response = get(server, "/machines", token)
    assert response.status_code == 403 and "expired" in response.json()["error"]


def test_wrong_audience_or_algorithm_is_403(server: ServerThread) -> None:
    now = int(time.time())
    wrong_aud = jwt.encode(
        {"act": {"sub": "u"}, "aud": "https://elsewhere/", "exp": now + 60},
        server.key.secret.encode(),
        "HS256",
        headers={"kid": server.key.key_id},
    )
    assert get(server, "/machines", wrong_aud).status_code == 403
    no_exp = jwt.encode(
        {"act": {"sub": "u"}, "aud": AUDIENCE},
        server.key.secret.encode(),
        "HS256",
        headers={"kid": server.key.key_id},
    )
    assert get(server, "/machines", no_exp).status_code == 403


def test_older_token_libraries_put_claims_at_the_top_level(server: ServerThread) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "alice", "aud": AUDIENCE, "iat": now, "exp": now + 60},
        server.key.secret.encode(),
        "HS256",
        headers={"kid": server.key.key_id},
    )
    # alice owns the handbook, so allowWrite lets her edit it.
    response = httpx.post(
        server.base_url + "/machines/document/i/handbook/events",
        headers={"authorization": f"Bearer {token}"},
        json={"event": {"type": "edit", "title": "By alice"}},
    )
    assert response.status_code == 200


def test_the_authorizer_sees_the_end_user(server: ServerThread) -> None:
    slug = unique("owned")
    with client(server, "carol") as carol, client(server, "dave") as dave:
        created = carol.post(
            "/machines/document", json={"slug": slug, "context": {"owner": "carol"}}
        )
        assert created.status_code == 200
        refused = dave.post(f"/machines/document/i/{slug}/events", json={"event": "submit"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "rejected-by-machine-authorizer"
        assert carol.get(f"/machines/document/i/{slug}").json()["state"] == "draft"
        assert (
            carol.post(f"/machines/document/i/{slug}/events", json={"event": "submit"}).json()[
                "state"
            ]
            == "in_review"
        )
        cannot_create = dave.post(
            "/machines/document", json={"slug": unique("theft"), "context": {"owner": "carol"}}
        )
        assert cannot_create.json()["code"] == "rejected-by-machine-authorizer"


def test_act_header_lets_a_key_holder_act_as_an_end_user(server: ServerThread) -> None:
    with client(
        server, "demo-user", **{"x-statebacked-act": json.dumps({"sub": "alice"})}
    ) as as_alice:
        response = as_alice.post(
            "/machines/document/i/handbook/events",
            json={"event": {"type": "edit", "title": "Acting"}},
        )
        assert response.status_code == 200
    with client(server, "demo-user", **{"x-statebacked-act": "{oops"}) as broken:
        bad = broken.get("/machines/document/i/handbook")
        assert bad.status_code == 400 and bad.json()["parameter"] == "x-statebacked-act"


def test_a_token_with_no_end_user_is_missing_user(server: ServerThread) -> None:
    with client(server, sub=None) as nobody:
        assert nobody.get("/machines").status_code == 200
        response = nobody.get("/machines/counter/i/small")
        assert response.status_code == 403
        assert response.json()["code"] == "missing-user"


def anonymous_token(server: ServerThread, org_id: str) -> httpx.Response:
    issuer = f"https://{org_id}.anonymous.auth.statebacked.dev"
    now = int(time.time())
    subject = jwt.encode(
        {
            "aud": issuer,
            "iss": issuer,
            "iat": now,
            "exp": now + 86400,
            "sid": str(uuid.uuid4()),
            "did": "device-1",
        },
        org_id.encode(),
        "HS256",
    )
    return httpx.post(
        server.base_url + "/tokens",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": anonymous_audience(org_id),
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": subject,
        },
    )


def test_anonymous_session_reads_and_writes_but_is_no_admin(server: ServerThread) -> None:
    exchanged = anonymous_token(server, "org_local")
    assert exchanged.status_code == 200
    body = exchanged.json()
    assert body["token_type"] == "Bearer"
    token = body["access_token"]
    slug = unique("anon")
    headers = {"authorization": f"Bearer {token}"}
    created = httpx.post(
        server.base_url + "/machines/counter", json={"slug": slug}, headers=headers
    )
    assert created.status_code == 200
    assert get(server, f"/machines/counter/i/{slug}", token).status_code == 200
    for path in ("/machines", f"/machines/counter/i/{slug}/admin", "/machines/counter/i"):
        refused = get(server, path, token)
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "missing-scope"
    # Index queries need `indexes.read`, which State Backed's docs show anonymous
    # clients using: they may query (it was a 403 missing-scope).
    sent = httpx.post(
        server.base_url + f"/machines/counter/i/{slug}/events",
        json={"event": {"type": "increment", "by": 1_000_003}},
        headers=headers,
    )
    assert sent.status_code == 200, sent.text
    found = get(server, "/machines/counter/indexes/count/query?op=eq&value=1000003", token)
    assert found.status_code == 200, found.text
    assert slug in [entry["slug"] for entry in found.json()["instances"]]


def test_a_machine_sees_an_anonymous_session_as_sid_did_and_auth(server: ServerThread) -> None:
    token = anonymous_token(server, "org_local").json()["access_token"]
    slug = unique("anon-guarded")
    created = httpx.post(
        server.base_url + "/machines/guarded",
        json={"slug": slug},
        headers={"authorization": f"Bearer {token}"},
    )
    assert created.status_code == 200, created.text
    with client(server, sub="anonymous:forged") as forger:
        refused = forger.post(f"/machines/guarded/i/{slug}/events", json={"event": "poke"})
    assert refused.status_code == 403


def test_anonymous_exchange_rejects_bad_requests(server: ServerThread) -> None:
    unknown_org = anonymous_token(server, "org_other")
    assert unknown_org.status_code == 403 and unknown_org.json()["code"] == "missing-org"
    bad = httpx.post(
        server.base_url + "/tokens",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": anonymous_audience("org_local"),
            "subject_token": "nonsense",
        },
    )
    assert bad.status_code == 400
    wrong_grant = httpx.post(server.base_url + "/tokens", data={"grant_type": "password"})
    assert wrong_grant.status_code == 400


def test_org_header_for_another_org_is_missing_org(server: ServerThread) -> None:
    with client(server, **{"x-statebacked-org-id": "org_someone_else"}) as other:
        response = other.get("/machines")
        assert response.status_code == 403
        assert response.json()["code"] == "missing-org"
    with client(server, **{"x-statebacked-org-id": "org_local"}) as mine:
        assert mine.get("/machines").status_code == 200


def test_a_key_in_several_orgs_must_specify_one(tmp_path: Path) -> None:
    with start_server(tmp_path, demo=False, org_ids=("org_a", "org_b")) as multi:
        with client(multi) as unspecified:
            response = unspecified.get("/machines")
            assert response.status_code == 400
            assert response.json()["code"] == "specify-org"
        with client(multi, **{"x-statebacked-org-id": "org_b"}) as specified:
            assert specified.get("/machines").status_code == 200


NODE_SIGN = """
const { signToken } = require("@statebacked/token");
signToken({ stateBackedKeyId: process.argv[1], stateBackedSecretKey: process.argv[2] },
          { sub: "alice" }, { expires: { in: "1h" } }).then((t) => console.log(t));
"""


@pytest.fixture(scope="session")
def official_token_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """@statebacked/token from npm, installed once for the session."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to run the official token library")
    folder = tmp_path_factory.mktemp("statebacked-token")
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "@statebacked/token@0.2.0"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def test_tokens_from_the_official_library_work_unchanged(
    server: ServerThread, official_token_library: Path
) -> None:
    signed = subprocess.run(
        ["node", "-e", NODE_SIGN, server.key.key_id, server.key.secret],
        cwd=official_token_library,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    token = signed.stdout.strip()
    assert jwt.get_unverified_header(token)["kid"] == server.key.key_id
    response = httpx.post(
        server.base_url + "/machines/document/i/handbook/events",
        headers={"authorization": f"Bearer {token}"},
        json={"event": {"type": "edit", "title": "Signed in node"}},
    )
    assert response.status_code == 200, response.text

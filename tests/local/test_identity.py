"""Identity providers and token providers: an app's own sign-in exchanged at /tokens for
a token of this server, as State Backed's token exchange does it."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smb_tui.api.wire import TOKEN_EXCHANGE_GRANT
from smb_tui.local.server import ServerThread
from tests.conftest import client, start_server
from tests.local.conftest import run_official

SECRET = b"the identity provider's own secret, 32+ bytes"
ISSUER, AUDIENCE = "https://idp.example", "my-app"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def idp_token(key: object = SECRET, algorithm: str = "HS256", **claims: object) -> str:
    body = {
        "sub": "user-9",
        "email": "nine@example.com",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 600,
        **claims,
    }
    headers = {"kid": "k1"} if algorithm != "HS256" else None
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]


def exchange(server: ServerThread, token: str, service: str = "web") -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/tokens",
        data={
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "audience": f"https://tokens.statebacked.dev/org_local/{service}",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": token,
        },
    )


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[ServerThread]:
    """A server that trusts one identity provider (HS256) and has a token provider."""
    with start_server(tmp_path, busy_history=0) as server, client(server) as admin:
        made = admin.post(
            "/idps",
            json={
                "iss": ISSUER,
                "aud": AUDIENCE,
                "algs": ["HS256"],
                "key": b64url(SECRET),
                "mapping": {"sub.$": "$.sub", "email.$": "$.email", "provider": "example"},
            },
        )
        assert made.status_code == 204, made.text
        provider = {
            "keyId": server.key.key_id,
            "service": "web",
            "mapping": {"sub.$": "$.sub", "email.$": "$.email", "via.$": "$.provider"},
        }
        assert admin.post("/token-providers", json=provider).status_code == 204
        yield server


def test_an_identity_provider_s_token_is_exchanged_for_one_with_the_mapped_claims(
    configured: ServerThread,
) -> None:
    answer = exchange(configured, idp_token())
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {"sub": "user-9", "email": "nine@example.com", "via": "example"}
    headers = {"authorization": f"Bearer {token}"}
    # An end user's token: it makes and reads instances, and administers nothing.
    made = httpx.post(
        f"{configured.base_url}/machines/counter", json={"slug": "mine"}, headers=headers
    )
    assert made.status_code == 200, made.text
    assert httpx.get(f"{configured.base_url}/machines", headers=headers).status_code == 403
    assert httpx.get(f"{configured.base_url}/idps", headers=headers).status_code == 403
    with client(configured) as admin:
        listed = admin.get("/idps").json()["idps"]
        assert listed == [
            {
                "algs": ["HS256"],
                "mapping": {"sub.$": "$.sub", "email.$": "$.email", "provider": "example"},
                "aud": AUDIENCE,
                "iss": ISSUER,
            }
        ]  # never the key
        assert [p["service"] for p in admin.get("/token-providers").json()["tokenProviders"]] == [
            "web"
        ]


@pytest.mark.parametrize(
    ("token", "service"),
    [
        (idp_token(key=b"another secret of 32 bytes or more!"), "web"),  # forged
        (idp_token(exp=int(time.time()) - 10), "web"),  # expired
        (idp_token(iss="https://elsewhere", aud="theirs"), "web"),  # no such provider
        (idp_token(algorithm="HS512"), "web"),  # an algorithm it does not take
        (jwt.encode({"sub": "x"}, "", algorithm="none"), "web"),  # unsigned
        (idp_token(), "other-app"),  # no such token provider
        ("not a jwt", "web"),
    ],
    # Named, not shown: a token holds the time it was made, and xdist's workers, each
    # collecting on its own, refuse to run when their test names differ (a second apart).
    ids=["forged", "expired", "no-such-provider", "hs512", "unsigned", "other-app", "not-jwt"],
)
def test_a_token_that_does_not_hold_is_refused(
    configured: ServerThread, token: str, service: str
) -> None:
    refused = exchange(configured, token, service)
    assert refused.status_code in (400, 403), refused.text
    assert "access_token" not in refused.json() and "error" in refused.json()


def test_deleted_providers_exchange_nothing_and_providers_outlive_a_restart(
    configured: ServerThread, tmp_path: Path
) -> None:
    configured.stop()
    with start_server(tmp_path, busy_history=0, key=configured.key) as again:
        assert exchange(again, idp_token()).status_code == 200  # kept in the database
        with client(again) as admin:
            deleted = admin.request("DELETE", "/idps", json={"iss": ISSUER, "aud": AUDIENCE})
            assert deleted.status_code == 204
        assert exchange(again, idp_token()).status_code == 403
        with client(again) as admin:
            admin.post(
                "/idps",
                json={"iss": ISSUER, "algs": ["HS256"], "key": b64url(SECRET), "mapping": {}},
            )
            assert exchange(again, idp_token()).status_code == 200
            assert admin.delete("/token-providers/web").status_code == 204
        assert exchange(again, idp_token()).status_code in (400, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"algs": ["HS256"], "key": "a2V5", "mapping": {}},  # neither aud nor iss
        {"iss": ISSUER, "algs": ["none"], "key": "a2V5", "mapping": {}},
        {"iss": ISSUER, "algs": ["HS256"], "mapping": {}},  # no key, no JWKS
        {"iss": ISSUER, "algs": ["RS256"], "key": "bm90IGEga2V5", "mapping": {}},
        {"iss": ISSUER, "algs": ["HS256"], "key": "a2V5", "mapping": {"sub.$": "$..sub"}},
        {"iss": ISSUER, "algs": ["HS256"], "jwksUrl": "file:///etc/passwd", "mapping": {}},
    ],
)
def test_a_bad_identity_provider_is_a_400_and_changes_nothing(
    server: ServerThread, body: dict[str, object]
) -> None:
    with client(server) as admin:
        before = admin.get("/idps").json()
        refused = admin.post("/idps", json=body)
        assert refused.status_code == 400, refused.text
        assert admin.get("/idps").json() == before


@pytest.fixture
def jwks() -> Iterator[tuple[rsa.RSAPrivateKey, str]]:
    """An RSA key, and a JWKS URL on 127.0.0.1 that publishes its public half (as Auth0
    and Cognito publish theirs)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    listening = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    yield private, f"http://127.0.0.1:{listening.server_address[1]}/.well-known/jwks.json"
    listening.shutdown()


def test_an_rs256_provider_by_jwks_url_or_by_public_key(
    configured: ServerThread, jwks: tuple[rsa.RSAPrivateKey, str]
) -> None:
    private, url = jwks
    with client(configured) as admin:
        upsert = {"iss": "https://rsa.example", "algs": ["RS256"], "mapping": {"sub.$": "$.sub"}}
        assert admin.post("/idps", json={**upsert, "jwksUrl": url}).status_code == 204
        signed = idp_token(private, "RS256", iss="https://rsa.example", aud="x")
        answer = exchange(configured, signed)
        assert answer.status_code == 200, answer.text
        assert jwt.decode(answer.json()["access_token"], options={"verify_signature": False})[
            "act"
        ] == {"sub": "user-9"}
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert admin.post("/idps", json={**upsert, "key": b64url(der)}).status_code == 204
        assert exchange(configured, signed).status_code == 200
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = idp_token(other, "RS256", iss="https://rsa.example", aud="x")
        assert exchange(configured, forged).status_code == 403


def test_the_official_client_signs_in_through_an_identity_provider(
    configured: ServerThread,
) -> None:
    seen = run_official(
        "official_exchange.mjs",
        SMB_URL=configured.base_url,
        SMB_IDP_TOKEN=idp_token(),
        SMB_ORG="org_local",
        SMB_SERVICE="web",
    )
    assert seen == {"created": "counting", "read": "counting"}, seen

"""Identity providers and token providers, and the exchange of an identity provider's
token for one of this server's, as State Backed does it (its docs: "Token exchange").

An app that signs its users in with its own identity provider (Auth0, Cognito, Supabase,
any JWT issuer) registers it (`POST /idps`: `aud` and/or `iss`, the algorithms, a key or
a JWKS URL, and a mapping of its claims) and a token provider (`POST /token-providers`:
a service name, the key that signs, and a mapping into the token's claims). A client then
posts the provider's JWT to `/tokens` with the audience
`https://tokens.statebacked.dev/<org>/<service>` and gets a bearer token whose auth
context is the two mappings applied in turn.

A mapping copies its keys as they are, except that a key ending in `.$` takes the value
its JSONPath finds in the source (`{"sub.$": "$.sub", "provider": "auth0"}`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from smb_tui.api.wire import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from smb_tui.core.keys import LocalKey
from smb_tui.local.auth import AuthError, sign_key_token, without_sender
from smb_tui.local.definitions import JSON
from smb_tui.local.deploy import json_path
from smb_tui.local.errors import ApiError

TOKENS_AUDIENCE = "https://tokens.statebacked.dev/"
SIGNING_ALGORITHMS = frozenset(
    {
        "HS256", "HS384", "HS512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
        "ES256", "ES384", "ES512", "EdDSA",
    }
)  # fmt: skip
REFUSED = "unauthorized"  # the subject token does not hold: 403
EXCHANGED_LIFETIME = 3600  # seconds a token from an exchange lasts (at most the subject's)
JWKS_TIMEOUT = 5.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS identity_providers (
    aud TEXT NOT NULL DEFAULT '',
    iss TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL,
    PRIMARY KEY (aud, iss)
);
CREATE TABLE IF NOT EXISTS token_providers (
    service TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
"""


def apply_mapping(mapping: Mapping[str, JSON], source: Mapping[str, JSON]) -> dict[str, JSON]:
    """`mapping` applied to `source`: keys ending in `.$` take what their JSONPath finds
    (left out when it finds nothing), objects are mapped in turn, the rest is copied."""
    mapped: dict[str, JSON] = {}
    for name, value in mapping.items():
        if name.endswith(".$") and isinstance(value, str):
            found = json_path(value)(source)
            if found is not None:
                mapped[name[:-2]] = found
        elif isinstance(value, dict):
            mapped[name] = apply_mapping(value, source)
        else:
            mapped[name] = value
    return mapped


def _checked_mapping(mapping: object) -> dict[str, JSON]:
    if not isinstance(mapping, dict):
        raise ApiError(400, "mapping must be a JSON object", "invalid-parameter", "mapping")

    def check(value: Mapping[str, JSON], depth: int = 0) -> None:
        if depth > 32:
            raise ApiError(400, "mapping is nested too deep", "invalid-parameter", "mapping")
        for name, inner in value.items():
            if name.endswith(".$"):
                if not isinstance(inner, str):
                    raise ApiError(
                        400, f"{name!r} must be a JSONPath string", "invalid-parameter", "mapping"
                    )
                try:
                    json_path(inner)
                except ApiError as error:
                    raise ApiError(400, error.error, "invalid-parameter", "mapping") from None
            elif isinstance(inner, dict):
                check(inner, depth + 1)

    check(mapping)
    return mapping


@dataclass(frozen=True)
class IdentityProvider:
    aud: str
    iss: str
    algs: tuple[str, ...]
    mapping: dict[str, JSON]
    key: str | None = None  # base64url: an HMAC secret, or a public key (PEM or DER)
    jwks_url: str | None = None

    def wire(self) -> dict[str, JSON]:
        """As State Backed lists one: never the key."""
        body: dict[str, JSON] = {"algs": list(self.algs), "mapping": self.mapping}
        if self.aud:
            body["aud"] = self.aud
        if self.iss:
            body["iss"] = self.iss
        if self.jwks_url:
            body["jwksUrl"] = self.jwks_url
        return body


class Identity:
    """The org's identity providers and token providers, kept in the server's database,
    and the exchange. The local server has one key: a token provider names it."""

    def __init__(self, db: sqlite3.Connection, key: LocalKey, org_ids: frozenset[str]) -> None:
        self.db = db
        self.key = key
        self.org_ids = org_ids
        db.executescript(SCHEMA)

    # -- identity providers --------------------------------------------------------------

    def upsert_idp(self, body: Mapping[str, Any]) -> None:
        aud, iss = str(body.get("aud") or ""), str(body.get("iss") or "")
        if not aud and not iss:
            raise ApiError(400, "give aud or iss (or both)", "invalid-parameter", "aud")
        algs = body.get("algs")
        if not isinstance(algs, list) or not algs or not set(algs) <= SIGNING_ALGORITHMS:
            raise ApiError(
                400,
                f"algs must list signing algorithms among {sorted(SIGNING_ALGORITHMS)}",
                "invalid-parameter",
                "algs",
            )
        key, jwks_url = body.get("key"), body.get("jwksUrl")
        if (key is None) == (jwks_url is None):
            raise ApiError(400, "give key or jwksUrl (one of them)", "invalid-parameter", "key")
        if key is not None:
            _verifying_key(str(key), algs[0])  # refused now, not at the first sign-in
        if jwks_url is not None and not str(jwks_url).startswith(("https://", "http://")):
            raise ApiError(400, "jwksUrl must be an http(s) URL", "invalid-parameter", "jwksUrl")
        idp = IdentityProvider(
            aud,
            iss,
            tuple(str(a) for a in algs),
            _checked_mapping(body.get("mapping")),
            None if key is None else str(key),
            None if jwks_url is None else str(jwks_url),
        )
        config = json.dumps({**idp.wire(), "key": idp.key})
        with self.db:
            self.db.execute(
                "INSERT INTO identity_providers (aud, iss, config) VALUES (?, ?, ?)"
                " ON CONFLICT (aud, iss) DO UPDATE SET config = excluded.config",
                (aud, iss, config),
            )

    def idps(self) -> list[IdentityProvider]:
        rows = self.db.execute("SELECT config FROM identity_providers ORDER BY aud, iss")
        return [_idp(json.loads(config)) for (config,) in rows]

    def delete_idp(self, body: Mapping[str, Any]) -> None:
        aud, iss = str(body.get("aud") or ""), str(body.get("iss") or "")
        if not aud and not iss:
            raise ApiError(400, "give aud or iss (or both)", "invalid-parameter", "aud")
        with self.db:
            self.db.execute("DELETE FROM identity_providers WHERE aud = ? AND iss = ?", (aud, iss))

    # -- token providers -------------------------------------------------------------------

    def upsert_token_provider(self, body: Mapping[str, Any]) -> None:
        service, key_id = body.get("service"), body.get("keyId")
        if not isinstance(service, str) or not service or "/" in service:
            raise ApiError(400, "service must be a name", "invalid-parameter", "service")
        if key_id != self.key.key_id:
            raise ApiError(
                400,
                f"keyId must be this server's key ({self.key.key_id}): it has no other",
                "invalid-parameter",
                "keyId",
            )
        config = {
            "service": service,
            "keyId": key_id,
            "mapping": _checked_mapping(body.get("mapping")),
        }
        with self.db:
            self.db.execute(
                "INSERT INTO token_providers (service, config) VALUES (?, ?)"
                " ON CONFLICT (service) DO UPDATE SET config = excluded.config",
                (service, json.dumps(config)),
            )

    def token_providers(self) -> list[dict[str, JSON]]:
        rows = self.db.execute("SELECT config FROM token_providers ORDER BY service")
        return [json.loads(config) for (config,) in rows]

    def delete_token_provider(self, service: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM token_providers WHERE service = ?", (service,))

    # -- the exchange ----------------------------------------------------------------------

    def serves(self, audience: str) -> bool:
        """True when `audience` names a token provider's service (not anonymous sessions)."""
        return self._service(audience) is not None

    def _service(self, audience: str) -> tuple[str, str] | None:
        if not audience.startswith(TOKENS_AUDIENCE):
            return None
        org_id, _, service = audience[len(TOKENS_AUDIENCE) :].partition("/")
        if org_id not in self.org_ids or not service or service == "anonymous-statebacked-dev":
            return None
        return org_id, service

    async def exchange(self, form: Mapping[str, str]) -> dict[str, str]:
        """The subject token, verified by the identity provider its `aud`/`iss` name,
        mapped by that provider and then by the token provider the audience names, as
        this server's bearer token. AuthError (403) when any of it does not hold."""
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            raise AuthError(f"grant_type must be {TOKEN_EXCHANGE_GRANT}", "invalid-parameter")
        named = self._service(form.get("audience", ""))
        if named is None:
            raise AuthError("the audience names no org this server serves", "missing-org")
        org_id, service = named
        provider = next((p for p in self.token_providers() if p["service"] == service), None)
        if provider is None:
            raise AuthError(f"no token provider has the service {service!r}", "invalid-parameter")
        subject = form.get("subject_token", "")
        try:
            unverified = jwt.decode(subject, options={"verify_signature": False})
            header = jwt.get_unverified_header(subject)
        except jwt.InvalidTokenError as error:
            raise AuthError(f"the subject token is not a JWT: {error}", REFUSED) from error
        idp = self._idp_for(unverified)
        if idp is None:
            raise AuthError("no identity provider has this token's aud or iss", REFUSED)
        algorithm = str(header.get("alg"))
        if algorithm not in idp.algs:
            raise AuthError(f"the identity provider does not take {algorithm!r} tokens", REFUSED)
        verifying = await self._verifying_key(idp, subject, algorithm)
        try:
            claims = jwt.decode(
                subject,
                verifying,
                algorithms=[algorithm],
                audience=idp.aud or None,
                issuer=idp.iss or None,
                options={"verify_aud": bool(idp.aud), "require": ["exp"]},
            )
        except jwt.InvalidTokenError as error:
            raise AuthError(f"the subject token is not valid: {error}", REFUSED) from error
        context = without_sender(
            apply_mapping(provider["mapping"], apply_mapping(idp.mapping, claims))
        )
        lifetime = max(1.0, min(EXCHANGED_LIFETIME, float(claims["exp"]) - _now()))
        token = sign_key_token(
            self.key, context, expires_in=lifetime, scope="exchanged", org=org_id
        )
        return {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
        }

    def _idp_for(self, claims: Mapping[str, Any]) -> IdentityProvider | None:
        audiences = claims.get("aud")
        auds = set(audiences) if isinstance(audiences, list) else {str(audiences or "")}
        issuer = str(claims.get("iss") or "")
        for idp in self.idps():
            if (not idp.aud or idp.aud in auds) and (not idp.iss or idp.iss == issuer):
                return idp
        return None

    async def _verifying_key(self, idp: IdentityProvider, token: str, algorithm: str) -> Any:
        if idp.key is not None:
            return _verifying_key(idp.key, algorithm)
        assert idp.jwks_url is not None
        client = jwt.PyJWKClient(idp.jwks_url, timeout=JWKS_TIMEOUT, cache_keys=True)
        try:  # urllib blocks: not on the server's loop
            signing = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientError as error:
            raise AuthError(
                f"the identity provider's JWKS gave no key: {error}", REFUSED
            ) from error
        return signing.key


def _idp(config: Mapping[str, Any]) -> IdentityProvider:
    return IdentityProvider(
        str(config.get("aud") or ""),
        str(config.get("iss") or ""),
        tuple(config.get("algs") or ()),
        dict(config.get("mapping") or {}),
        config.get("key"),
        config.get("jwksUrl"),
    )


def _verifying_key(key: str, algorithm: str) -> Any:
    """An idp's `key` (base64url, as State Backed takes it) as PyJWT verifies with it: the
    secret's bytes for HS*, else a public key (PEM text or DER bytes)."""
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except ValueError:
        raise ApiError(400, "key must be base64url", "invalid-parameter", "key") from None
    if algorithm.startswith("HS"):
        return raw
    from cryptography.hazmat.primitives import serialization

    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return serialization.load_pem_public_key(raw)
        return serialization.load_der_public_key(raw)
    except Exception:  # cryptography's errors for what is no key (ValueError, unsupported)
        raise ApiError(
            400, f"key is not a public key for {algorithm} (PEM or DER)", "invalid-parameter", "key"
        ) from None


def _now() -> float:
    return time.time()

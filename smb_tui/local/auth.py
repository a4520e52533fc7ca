"""Auth as State Backed does it: HS256 JWTs signed with an API key, and anonymous sessions.

A key token carries the end-user claims under `act` (older token libraries put them at
the top level); those claims are the `authContext` the machine's authorizers see.
"""

from __future__ import annotations

import hmac
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from smb_tui.api.wire import (
    ACCESS_TOKEN_TYPE,
    ACT_CLAIM,
    AUDIENCE,
    TOKEN_EXCHANGE_GRANT,
    anonymous_audience,
    anonymous_issuer,
    key_token_claims,
)
from smb_tui.core.keys import LocalKey
from smb_tui.local.definitions import JSON

SENDER_CLAIM = "stateBackedSender"  # set by the server for events between instances
REGISTERED_CLAIMS = {"aud", "iss", "iat", "exp", "nbf", "jti", "scope"}
# An anonymous session's token is signed with a production key, which may also query
# indexes: State Backed's docs query one from an anonymous client ("Index queries are
# allowed from any client with `indexes.read` scope").
ANONYMOUS_SCOPES = frozenset(
    {"instances.read", "instances.write", "instances.create", "indexes.read"}
)
# A token from an identity provider's exchange: signed, as State Backed's token providers
# are told to sign, with a production key (events, state and creating instances).
EXCHANGED_SCOPES = ANONYMOUS_SCOPES
ALL_SCOPES = ANONYMOUS_SCOPES | {
    "machines.read",
    "machines.write",
    "machine-versions.write",
    "instances.admin",
    "logs.read",
    "tokens.admin",
}


def same_secret(given: str, expected: str) -> bool:
    """A constant-time comparison of what a client sent with what it must be. As bytes:
    `hmac.compare_digest` raises on a str that is not ASCII, which a client can send."""
    return hmac.compare_digest(given.encode(), expected.encode())


class AuthError(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Principal:
    """Who is asking: the end-user claims, what they may do, and whether anonymous."""

    auth_context: Mapping[str, JSON]
    scopes: frozenset[str]
    anonymous: bool = False
    org_id: str | None = None
    # For an event between instances: how many deliveries led to it (a client's event: 0).
    hops: int = 0


def sign_key_token(
    key: LocalKey,
    auth_context: Mapping[str, JSON],
    expires_in: float = 3600,
    **extra: Any,
) -> str:
    """The token `@statebacked/token` 0.2 makes for this key and end user."""
    claims = {
        **key_token_claims(key.key_id, dict(auth_context), int(time.time()), expires_in),
        **extra,
    }
    return jwt.encode(claims, key.secret.encode(), algorithm="HS256", headers={"kid": key.key_id})


class VerifiedTokens:
    """Tokens this server verified, and whom they name, until they expire: a client
    sends the same token with every request, and checking its signature and claims
    again each time was a tenth of an event's cost. Bounded (least recently verified
    go first); a token is taken from here only while its `exp` is in the future."""

    def __init__(self, key: LocalKey, size: int = 1024) -> None:
        self.key = key
        self.size = size
        self._held: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        held = self._held.get(token)
        if held is not None and time.time() < held[1]:
            return held[0]
        principal, expires = _verify(token, self.key)
        self._held.pop(token, None)
        if len(self._held) >= self.size:
            del self._held[next(iter(self._held))]
        self._held[token] = (principal, expires)
        return principal


def _verify(token: str, key: LocalKey) -> tuple[Principal, float]:
    """Whom `token` names, and when it expires; AuthError when it is not good."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise AuthError(f"the bearer token is not a JWT ({error})") from error
    if header.get("alg") != "HS256":
        raise AuthError("the bearer token must be signed with HS256")
    if header.get("kid") != key.key_id:
        raise AuthError("the bearer token was signed with a key this server does not know")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.secret.encode(),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "aud"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise AuthError("the bearer token has expired; sign a new one") from error
    except jwt.InvalidAudienceError as error:
        raise AuthError(f"the bearer token's audience must be {AUDIENCE}") from error
    except jwt.InvalidTokenError as error:
        raise AuthError(f"the bearer token is not valid: {error}") from error
    act = claims.get(ACT_CLAIM)
    if isinstance(act, dict):
        auth_context: dict[str, JSON] = act
    else:
        auth_context = {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}
    auth_context = without_sender(auth_context)
    anonymous = claims.get("scope") == "anonymous"
    exchanged = claims.get("scope") == "exchanged"
    scopes = ANONYMOUS_SCOPES if anonymous else EXCHANGED_SCOPES if exchanged else ALL_SCOPES
    principal = Principal(
        auth_context=auth_context,
        scopes=scopes,
        anonymous=anonymous,
        org_id=claims.get("org") if anonymous else None,
    )
    return principal, float(claims["exp"])


def without_sender(auth_context: Mapping[str, JSON]) -> dict[str, JSON]:
    """An auth context a client gave, without `stateBackedSender`: only the server says an
    event came from another instance (authorizers trust it as verified)."""
    return {k: v for k, v in auth_context.items() if k != SENDER_CLAIM}


def exchange_anonymous(
    form: Mapping[str, str], key: LocalKey, org_ids: frozenset[str]
) -> dict[str, str]:
    """Turn a client-made anonymous session JWT into an access token for this server."""
    if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
        raise AuthError(f"grant_type must be {TOKEN_EXCHANGE_GRANT}", "invalid-parameter")
    audience = form.get("audience", "")
    org_id = next((o for o in org_ids if anonymous_audience(o) == audience), None)
    if org_id is None:
        raise AuthError("the audience names no org this server serves", "missing-org")
    issuer = anonymous_issuer(org_id)
    try:
        with warnings.catch_warnings():
            # The protocol signs with the org id, a short key: that is State Backed's choice.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            claims = jwt.decode(
                form.get("subject_token", ""),
                org_id.encode(),
                algorithms=["HS256"],
                audience=issuer,
                issuer=issuer,
                options={"require": ["exp", "iat"]},
            )
    except jwt.InvalidTokenError as error:
        raise AuthError(f"the subject token is not valid: {error}") from error
    session_id = str(claims.get("sid") or uuid.uuid4())
    device_id = str(claims.get("did") or session_id)
    access_token = sign_key_token(
        key,
        # Exactly what State Backed gives a machine: no `sub` that could be trusted.
        {"sid": session_id, "did": device_id, "auth": "anonymous"},
        expires_in=86400,
        scope="anonymous",
        org=org_id,
    )
    return {
        "access_token": access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
    }

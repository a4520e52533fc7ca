"""Token sources: where the bearer token of each request comes from.

A source hands out a token and makes a new one before the old one's `exp`. None of
them shows a secret or a token in its repr.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from smb_tui.api.errors import Forbidden
from smb_tui.api.wire import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    anonymous_audience,
    anonymous_subject_claims,
    key_issuer,
    key_token_claims,
)

REFRESH_MARGIN = 60.0  # seconds before `exp` at which a token counts as expired

Exchange = Callable[[Mapping[str, str]], Awaitable[str]]


class TokenSource(Protocol):
    async def token(self, exchange: Exchange) -> str:
        """A token valid for a while yet; `exchange` POSTs a form to /tokens."""
        ...


def token_expiry(token: str) -> float | None:
    import jwt  # when first used: PyJWT (and its crypto) is a tenth of the dashboard's import

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class StaticToken:
    """A bearer token given as is (e.g. from STATEBACKED_TOKEN)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self, exchange: Exchange) -> str:
        expiry = token_expiry(self._token)
        if expiry is not None and expiry < time.time():
            raise Forbidden(403, "the configured token has expired; get a new one")
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class KeyCredentials:
    """Mints the token `@statebacked/token` 0.2 makes: HS256, `kid`, claims under `act`.

    `auth_context` is the end user the token speaks for; whoever holds a key may act
    as any end user, which is how an operator checks what a given user may do.
    """

    def __init__(
        self,
        key_id: str,
        secret: str,
        auth_context: Mapping[str, Any] | None = None,
        expires_in: float = 3600,
        issuer: str | None = None,
    ) -> None:
        self.key_id = key_id
        self._secret = secret
        self.auth_context = dict(auth_context or {})
        self.expires_in = expires_in
        self.issuer = issuer or key_issuer(key_id)
        self._token: str | None = None
        self._expiry = 0.0

    def with_auth_context(self, auth_context: Mapping[str, Any]) -> KeyCredentials:
        """The same key, speaking for another end user."""
        return KeyCredentials(self.key_id, self._secret, auth_context, self.expires_in, self.issuer)

    def mint(self) -> str:
        import jwt

        claims = key_token_claims(
            self.key_id, self.auth_context, int(time.time()), self.expires_in, self.issuer
        )
        return jwt.encode(
            claims, self._secret.encode(), algorithm="HS256", headers={"kid": self.key_id}
        )

    async def token(self, exchange: Exchange) -> str:
        if self._token is None or time.time() > self._expiry - REFRESH_MARGIN:
            self._token = self.mint()
            self._expiry = time.time() + self.expires_in
        return self._token

    def __repr__(self) -> str:
        return f"KeyCredentials(key_id={self.key_id!r}, auth_context={self.auth_context!r})"


class AnonymousSession:
    """An anonymous end user of an org: a client-made JWT exchanged at /tokens."""

    def __init__(self, org_id: str, device_id: str | None = None) -> None:
        self.org_id = org_id
        self.device_id = device_id or str(uuid.uuid4())
        self.session_id = str(uuid.uuid4())
        self._token: str | None = None
        self._expiry = 0.0
        self._lock = asyncio.Lock()

    def subject_token(self) -> str:
        import jwt

        claims = anonymous_subject_claims(
            self.org_id, self.session_id, self.device_id, int(time.time())
        )
        with warnings.catch_warnings():
            # The protocol signs with the org id, a short key: that is State Backed's choice.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(claims, self.org_id.encode(), algorithm="HS256")

    async def token(self, exchange: Exchange) -> str:
        async with self._lock:
            if self._token is None or time.time() > self._expiry - REFRESH_MARGIN:
                token = await exchange(
                    {
                        "grant_type": TOKEN_EXCHANGE_GRANT,
                        "audience": anonymous_audience(self.org_id),
                        "requested_token_type": ACCESS_TOKEN_TYPE,
                        "subject_token": self.subject_token(),
                    }
                )
                self._token = token
                self._expiry = token_expiry(token) or time.time() + 3600
            return self._token

    def __repr__(self) -> str:
        return f"AnonymousSession(org_id={self.org_id!r})"

"""The shapes on the wire that the client and the local server must agree on, in one
place: both `smb_tui.api` and `smb_tui.local` import them from here (the answers'
models are in `smb_tui.api.models`). From `statebacked-api.md`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

PRODUCTION_URL = "https://api.statebacked.dev"

# Machine, instance, version and index names.
SLUG = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")

# The history row of an instance's upgrade to another version.
UPGRADE_EVENT = "statebacked.upgrade"

# Not in State Backed's API: the services the local server stopped at the settle time-out.
# Service ids are machine code's text, and headers are ASCII: each id is percent-encoded
# (UTF-8) before anything commits, so that building the answer cannot fail after it.


def encode_services(names: Iterable[str]) -> str:
    return ",".join(quote(name, safe="", errors="backslashreplace") for name in names)


def decode_services(value: str) -> tuple[str, ...]:
    return tuple(unquote(name, errors="replace") for name in value.split(",") if name)


# Tokens signed with an API key: State Backed's @statebacked/token.
AUDIENCE = "https://api.statebacked.dev/"
ACT_CLAIM = "act"  # the end-user claims, the authContext authorizers see


def key_issuer(key_id: str) -> str:
    return f"https://{key_id}.client.statebacked.dev/"


# Anonymous sessions: a JWT signed with the org id, exchanged at /tokens.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ANONYMOUS_LIFETIME = 86400


def anonymous_issuer(org_id: str) -> str:
    """Both `iss` and `aud` of the subject token an anonymous session signs."""
    return f"https://{org_id}.anonymous.auth.statebacked.dev"


def anonymous_audience(org_id: str) -> str:
    """The `audience` form field of the exchange."""
    return f"https://tokens.statebacked.dev/{org_id}/anonymous-statebacked-dev"


def delete_confirmation(machine: str, instance: str) -> str:
    """What DELETE of an instance must carry: base64url(HMAC-SHA256(key = machine name,
    message = instance name)), unpadded."""
    digest = hmac.new(machine.encode(), instance.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def key_token_claims(
    key_id: str,
    auth_context: object,
    now: int,
    expires_in: float,
    issuer: str | None = None,
) -> dict[str, object]:
    """The claims `@statebacked/token` 0.2 signs (HS256, header `kid` = key id) for an
    end user: their claims under `act`."""
    return {
        ACT_CLAIM: auth_context,
        "aud": AUDIENCE,
        "iss": issuer or key_issuer(key_id),
        "iat": now,
        "exp": now + int(expires_in),
    }


def anonymous_subject_claims(
    org_id: str, session_id: str, device_id: str, now: int
) -> dict[str, object]:
    """The claims of the JWT an anonymous session signs with its org id."""
    issuer = anonymous_issuer(org_id)
    return {
        "aud": issuer,
        "iss": issuer,
        "iat": now,
        "exp": now + ANONYMOUS_LIFETIME,
        "sid": session_id,
        "did": device_id,
    }

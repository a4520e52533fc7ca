"""Connection settings: named profiles in config.toml, the environment, and flags.

Precedence: command-line flags, then STATEBACKED_* variables, then the profile. The
profile `local` needs no set-up: it points at `smb-tui local` and its generated key.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from smb_tui.api.auth import AnonymousSession, KeyCredentials, StaticToken
from smb_tui.api.wire import PRODUCTION_URL
from smb_tui.core.keys import load_or_create_key
from smb_tui.paths import config_path, default_key_path

if TYPE_CHECKING:
    from smb_tui.api.auth import TokenSource
    from smb_tui.api.client import StateBackedClient

LOCAL_PROFILE = "local"
LOCAL_URL = "http://127.0.0.1:8787"


def is_local_url(url: str) -> bool:
    """Is this API on this machine (a local server, not State Backed)?"""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


DEFAULT_AUTH_CONTEXT = {"sub": "smb-tui"}
SECRET_FIELDS = ("token", "secret")
ENVIRONMENT = {
    "api_url": "STATEBACKED_API_URL",
    "token": "STATEBACKED_TOKEN",
    "key_id": "STATEBACKED_KEY_ID",
    "secret": "STATEBACKED_SECRET_KEY",
    "org_id": "STATEBACKED_ORG_ID",
}


class ConfigError(Exception):
    """The settings do not add up to a connection; the message says what to set."""


@dataclass
class Profile:
    """One way to connect: a base URL, an org, and one kind of auth with its values."""

    api_url: str | None = None
    org_id: str | None = None
    token: str | None = field(default=None, repr=False)
    key_id: str | None = None
    secret: str | None = field(default=None, repr=False)
    auth_context: dict[str, Any] | None = None
    anonymous: bool = False
    # A machine's code, for drawing its chart where the server gives no definition
    # (`[profiles.NAME.bundles]`: machine = "path/to/bundle.js"; `--bundle M=FILE`).
    bundles: dict[str, str] | None = None
    # What is wrong with the profile as config.toml has it: said when it is used, so
    # that one broken profile does not stop the others (and the commands using none).
    broken: str | None = None

    @property
    def auth_kind(self) -> Literal["token", "key", "anonymous"] | None:
        if self.token:
            return "token"
        if self.key_id or self.secret:
            return "key"
        if self.anonymous:
            return "anonymous"
        return None

    def over(self, base: Profile) -> Profile:
        """These values where set, `base`'s elsewhere; one auth kind wins whole, except
        that a key id given with no secret takes the secret from `base` when `base` is
        a key too (`--key-id` with STATEBACKED_SECRET_KEY, which keeps it out of `ps`,
        as `smb-tui local --key-id` takes it)."""
        auth = self if self.auth_kind else base
        secret = auth.secret
        if auth is self and self.key_id and not self.secret and base.auth_kind == "key":
            secret = base.secret
        return Profile(
            api_url=self.api_url or base.api_url,
            org_id=self.org_id or base.org_id,
            token=auth.token,
            key_id=auth.key_id,
            secret=secret,
            auth_context=self.auth_context or base.auth_context,
            anonymous=auth.anonymous,
            bundles={**(base.bundles or {}), **(self.bundles or {})} or None,
        )


@dataclass(frozen=True)
class Connection:
    """What the client needs: where, which org, and a token source."""

    base_url: str
    auth: TokenSource
    org_id: str | None
    profile: str | None
    can_act_as: bool  # key credentials: may mint tokens for any end user
    bundles: Mapping[str, str] = field(default_factory=dict)  # machine -> its code

    def client(self) -> StateBackedClient:
        """A client for this connection; ConfigurationError if its base URL is not one.
        The client's module (httpx, pydantic, the models) loads here when first needed:
        the dashboard draws its first frame before."""
        from smb_tui.api.client import StateBackedClient

        return StateBackedClient(self.auth, self.base_url, org_id=self.org_id)


def read_profiles(path: Path | None = None) -> dict[str, Profile]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    profiles: dict[str, Profile] = {}
    holds_secret = False
    for name, values in data.get("profiles", {}).items():
        if not isinstance(values, dict):
            continue
        where = f"{path}: profile {name!r}"  # what a wrong setting's message names
        text = partial(_text, values, where)
        try:
            profiles[name] = Profile(
                api_url=text("api_url"),
                org_id=text("org_id"),
                token=text("token"),
                key_id=text("key_id"),
                secret=text("secret"),
                auth_context=_auth_context(values.get("auth_context"), where),
                anonymous=_flag(values.get("anonymous", False), where),
                bundles=_bundles(values.get("bundles"), path),
            )
        except ConfigError as error:
            profiles[name] = Profile(broken=str(error))
        holds_secret = holds_secret or any(values.get(f) for f in SECRET_FIELDS)
    if holds_secret and stat.S_IMODE(path.stat().st_mode) & 0o077:
        warnings.warn(
            f"{path} holds secrets but others may read it; run: chmod 600 {path}",
            stacklevel=2,
        )
    return profiles


def from_environment(environ: Mapping[str, str] | None = None) -> Profile:
    environ = os.environ if environ is None else environ
    value = {key: environ.get(name) or None for key, name in ENVIRONMENT.items()}.get
    return Profile(
        api_url=value("api_url"),
        org_id=value("org_id"),
        token=value("token"),
        key_id=value("key_id"),
        secret=value("secret"),
    )


def local_profile() -> Profile:
    """The local server with its generated key (made now if it has not started yet)."""
    key = load_or_create_key(default_key_path())
    return Profile(api_url=LOCAL_URL, org_id=None, key_id=key.key_id, secret=key.secret)


def resolve(
    flags: Profile | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Connection:
    """Flags over the environment over the named (or only, or `default`) profile; the
    name from `STATEBACKED_PROFILE` when none is given."""
    profiles = read_profiles(path)
    environment = os.environ if environ is None else environ
    name = profile or environment.get("STATEBACKED_PROFILE") or None
    if name is None:
        name = "default" if "default" in profiles else None
    if name == LOCAL_PROFILE and LOCAL_PROFILE not in profiles:
        chosen = local_profile()
    elif name is not None:
        if name not in profiles:
            known = ", ".join(sorted([*profiles, LOCAL_PROFILE]))
            raise ConfigError(f"there is no profile {name!r} (known: {known})")
        chosen = profiles[name]
        if chosen.broken is not None:
            raise ConfigError(chosen.broken)
    else:
        chosen = Profile()
    merged = (flags or Profile()).over(from_environment(environ).over(chosen))
    return _connection(merged, name)


def _connection(profile: Profile, name: str | None) -> Connection:
    base_url = profile.api_url or PRODUCTION_URL
    kind = profile.auth_kind
    auth: TokenSource
    if kind == "token":
        assert profile.token is not None
        auth = StaticToken(profile.token)
    elif kind == "key":
        if not (profile.key_id and profile.secret):
            raise ConfigError(
                "key credentials need both a key id and a secret"
                " (--key-id and --secret, or STATEBACKED_KEY_ID and"
                " STATEBACKED_SECRET_KEY)"
            )
        auth = KeyCredentials(
            profile.key_id, profile.secret, profile.auth_context or DEFAULT_AUTH_CONTEXT
        )
    elif kind == "anonymous":
        if not profile.org_id:
            raise ConfigError("an anonymous session needs an org id (--org-id)")
        auth = AnonymousSession(profile.org_id)
    else:
        raise ConfigError(
            "no credentials: pass --token, or --key-id and --secret-file, or --org-id with"
            " --anonymous; set STATEBACKED_TOKEN or STATEBACKED_KEY_ID and"
            " STATEBACKED_SECRET_KEY; or use --profile local with `smb-tui local` running"
        )
    org_id = profile.org_id if kind != "anonymous" else None
    return Connection(base_url, auth, org_id, name, kind == "key", dict(profile.bundles or {}))


def _text(values: Mapping[str, Any], where: str, key: str) -> str | None:
    """A profile's text setting; ConfigError for any other kind of value (a number, a
    list), which would otherwise be sent as its repr."""
    value = values.get(key)
    if value is None or isinstance(value, str):
        return value
    shown = "" if key in SECRET_FIELDS else f", not {value!r}"  # a secret is never shown
    raise ConfigError(f"{where}: {key} must be a string in quotes{shown}")


def _flag(value: Any, where: str) -> bool:
    """`anonymous`: true or false; a string ("false") would read as true."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: anonymous must be true or false, not {value!r}")


def _auth_context(value: Any, where: str) -> dict[str, Any] | None:
    """`auth_context`: a table, or a JSON object in a string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ConfigError(f"{where}: auth_context is not JSON ({error})") from None
    if value is None or isinstance(value, dict):
        return value
    raise ConfigError(f'{where}: auth_context must be an object, like {{sub = "user-1"}}')


def _bundles(table: Any, path: Path) -> dict[str, str] | None:
    """A profile's `bundles` table: machine = path (relative paths from the config's
    folder)."""
    if not isinstance(table, dict):
        return None
    return {
        str(machine): str(path.parent / Path(file).expanduser())
        for machine, file in table.items()
        if isinstance(file, str)
    }


__all__ = [
    "ConfigError",
    "Connection",
    "Profile",
    "config_path",
    "read_profiles",
    "resolve",
]

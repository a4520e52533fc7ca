"""Profiles, the environment and flags: which connection smb-tui makes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smb_tui.api import AnonymousSession, KeyCredentials, StaticToken
from smb_tui.config import ConfigError, Profile, read_profiles, resolve


@pytest.fixture(autouse=True)
def own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_flags_beat_environment_beat_profile(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.default]\napi_url = "https://profile"\ntoken = "profile-token"\n'
        'org_id = "org_profile"\n'
    )
    path.chmod(0o600)
    only_profile = resolve(environ={}, path=path)
    assert only_profile.base_url == "https://profile"
    assert isinstance(only_profile.auth, StaticToken)
    environ = {
        "STATEBACKED_API_URL": "https://env",
        "STATEBACKED_KEY_ID": "sbk_env",
        "STATEBACKED_SECRET_KEY": "env-secret",
    }
    from_env = resolve(environ=environ, path=path)
    assert from_env.base_url == "https://env"
    assert isinstance(from_env.auth, KeyCredentials) and from_env.auth.key_id == "sbk_env"
    assert from_env.org_id == "org_profile"
    flags = Profile(api_url="https://flag", token="flag-token")
    from_flags = resolve(flags, environ=environ, path=path)
    assert from_flags.base_url == "https://flag"
    assert isinstance(from_flags.auth, StaticToken)


def test_a_key_id_flag_takes_its_secret_from_the_environment(tmp_path: Path) -> None:
    environ = {"STATEBACKED_SECRET_KEY": "env-secret"}
    mixed = resolve(Profile(key_id="sbk_flag"), environ=environ, path=tmp_path / "none.toml")
    assert isinstance(mixed.auth, KeyCredentials) and mixed.auth.key_id == "sbk_flag"
    with pytest.raises(ConfigError, match="both a key id and a secret"):
        resolve(Profile(key_id="sbk_flag"), environ={}, path=tmp_path / "none.toml")


def test_named_profiles_and_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.staging]\napi_url = "https://staging"\nkey_id = "sbk_s"\n'
        'secret = "s3cr3t"\nauth_context = \'{"sub": "ops", "roles": ["admin"]}\'\n\n'
        '[profiles.kiosk]\norg_id = "org_kiosk"\nanonymous = true\n'
    )
    path.chmod(0o600)
    staging = resolve(profile="staging", environ={}, path=path)
    assert isinstance(staging.auth, KeyCredentials)
    assert staging.auth.auth_context == {"sub": "ops", "roles": ["admin"]}
    assert staging.can_act_as
    kiosk = resolve(profile="kiosk", environ={}, path=path)
    assert isinstance(kiosk.auth, AnonymousSession) and kiosk.auth.org_id == "org_kiosk"
    with pytest.raises(ConfigError, match="no profile 'prod'"):
        resolve(profile="prod", environ={}, path=path)


def test_the_local_profile_needs_no_setup(tmp_path: Path) -> None:
    local = resolve(profile="local", environ={}, path=tmp_path / "none.toml")
    assert local.base_url == "http://127.0.0.1:8787"
    assert isinstance(local.auth, KeyCredentials) and local.auth.key_id.startswith("sbk_")
    key_file = tmp_path / "data" / "smb-tui" / "local-key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = resolve(profile="local", environ={}, path=tmp_path / "none.toml")
    assert isinstance(again.auth, KeyCredentials) and again.auth.key_id == local.auth.key_id


def test_nothing_configured_says_how_to_connect(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--profile local"):
        resolve(environ={}, path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="both a key id and a secret"):
        resolve(Profile(key_id="sbk_only"), environ={}, path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="org id"):
        resolve(Profile(anonymous=True), environ={}, path=tmp_path / "none.toml")


def test_a_profile_file_readable_by_others_warns(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.p]\ntoken = "t0ken"\n')
    path.chmod(0o600)
    assert read_profiles(path)["p"].token == "t0ken"
    os.chmod(path, 0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        read_profiles(path)


def test_profile_repr_hides_secrets() -> None:
    profile = Profile(token="tok-123", key_id="sbk_1", secret="sec-456")
    assert "tok-123" not in repr(profile) and "sec-456" not in repr(profile)


def test_a_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.x\nnope")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve(environ={}, path=path)


def test_statebacked_profile_names_the_profile_and_a_profile_names_its_bundles(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.staging]\napi_url = "https://staging"\ntoken = "t"\n\n'
        '[profiles.staging.bundles]\ndoor = "dist/door.js"\nlamp = "/abs/lamp.js"\n'
    )
    path.chmod(0o600)
    chosen = resolve(environ={"STATEBACKED_PROFILE": "staging"}, path=path)
    assert chosen.base_url == "https://staging" and chosen.profile == "staging"
    assert chosen.bundles == {"door": str(tmp_path / "dist/door.js"), "lamp": "/abs/lamp.js"}
    # A flag's profile wins over the variable.
    with pytest.raises(ConfigError, match="no profile 'other'"):
        resolve(profile="other", environ={"STATEBACKED_PROFILE": "staging"}, path=path)


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("api_url = 3", "api_url must be a string in quotes, not 3"),
        ('token = ["t0ken-value"]', "token must be a string in quotes"),
        ("secret = 1234567890", "secret must be a string in quotes"),
        ('anonymous = "false"', "anonymous must be true or false, not 'false'"),
        ('auth_context = "{sub: 1"', "auth_context is not JSON"),
        ("auth_context = [1]", "auth_context must be an object"),
    ],
)
def test_a_setting_of_the_wrong_kind_is_a_clear_error_naming_it(
    tmp_path: Path, setting: str, said: str
) -> None:
    """A number or list where text goes was sent as its repr; "false" read as true; a
    context that is not JSON crashed the command with a traceback."""
    path = tmp_path / "config.toml"
    base = {"key_id": 'key_id = "k"', "secret": 'secret = "s"'}
    kept = [line for key, line in base.items() if not setting.startswith(key)]
    path.write_text("[profiles.prod]\n" + "\n".join([*kept, setting]) + "\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="profile 'prod'") as error:
        resolve(profile="prod", environ={}, path=path)
    assert said in str(error.value)
    assert "t0ken-value" not in str(error.value) and "1234567890" not in str(error.value)


def test_a_broken_profile_stops_only_its_own_use(tmp_path: Path) -> None:
    """One profile with a setting of the wrong kind (a stale one, say) is refused when
    it is used, and only then: the others, and commands using none, still run."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.good]\ntoken = "t"\napi_url = "http://127.0.0.1:1"\n'
        '[profiles.stale]\nanonymous = "yes"\n'
    )
    path.chmod(0o600)
    assert resolve(profile="good", environ={}, path=path).base_url == "http://127.0.0.1:1"
    assert resolve(Profile(token="f"), environ={}, path=path).profile is None
    with pytest.raises(ConfigError, match="profile 'stale': anonymous must be true or false"):
        resolve(profile="stale", environ={}, path=path)
    assert read_profiles(path)["stale"].broken is not None

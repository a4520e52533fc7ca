"""`smb-tui` with no command: the dashboard on the API the flags, STATEBACKED_*
variables or a profile name; and the connection the other commands share."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any


def connection_options(parser: argparse.ArgumentParser, after_command: bool = False) -> None:
    """The flags that say which API to use and as whom: the dashboard's, and every
    command's that calls an API. `after_command`: on a command's own parser, so that
    they work after it too (`export history M I --profile local`); a flag given there
    wins over the same given before the command, and one not given there changes
    nothing."""
    group = parser.add_argument_group(
        "connection" + (" (also before the command)" if after_command else "")
    )
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    group.add_argument(
        "--profile",
        help="a profile in config.toml ('local': smb-tui local); or STATEBACKED_PROFILE",
        **unset,
    )
    group.add_argument("--api-url", help="the API's base URL (default: production)", **unset)
    group.add_argument("--token", help="a bearer token (or STATEBACKED_TOKEN)", **unset)
    group.add_argument(
        "--key-id",
        dest="dash_key_id",
        metavar="KEY_ID",
        help="an API key id, sbk_... (or STATEBACKED_KEY_ID)",
        **unset,
    )
    group.add_argument(
        "--secret",
        dest="dash_secret",
        metavar="SECRET",
        help="the API key's secret; it shows in `ps` and shell history, so prefer"
        " --secret-file or STATEBACKED_SECRET_KEY",
        **unset,
    )
    group.add_argument(
        "--secret-file",
        dest="dash_secret_file",
        type=Path,
        metavar="FILE",
        help="a file holding the API key's secret (one line)",
        **unset,
    )
    group.add_argument(
        "--auth-context",
        metavar="JSON",
        help='the end user a key acts as, e.g. \'{"sub": "user-1"}\'',
        **unset,
    )
    group.add_argument("--org-id", dest="dash_org_id", metavar="ORG", help="the org id", **unset)
    group.add_argument(
        "--anonymous",
        action="store_true",
        help="an anonymous session of --org-id",
        **unset,
    )
    group.add_argument(
        "--debug",
        type=Path,
        metavar="FILE",
        help="append each request to FILE: method, path, status, time, size (never a"
        " header, so never a token)",
        **unset,
    )


def opening_options(parser: argparse.ArgumentParser, cache: bool = True) -> None:
    """Where the dashboard opens (the dashboard's, the demo's, `serve`'s); `cache`: with
    `--no-cache`."""
    parser.add_argument("--machine", help="open on this machine")
    parser.add_argument("--instance", help="open on this instance (with --machine)")
    if cache:
        parser.add_argument(
            "--no-cache", action="store_true", help="keep no fetched history on disk this time"
        )


def dashboard_options(parser: argparse.ArgumentParser) -> None:
    connection_options(parser)
    opening_options(parser)
    parser.add_argument(
        "--bundle",
        dest="dash_bundles",
        action="append",
        default=[],
        metavar="MACHINE=FILE",
        help="a machine's code (an XState bundle), to draw its chart (M) where the server"
        " gives no definition; repeatable (a profile's [bundles] table does the same)",
    )
    parser.add_argument(
        "--copy-to",
        metavar="PROFILE",
        help="the local server F copies instances into, to try events on (a profile;"
        " default: the dashboard's own server when it is a local one)",
    )
    parser.add_argument(
        "--clear-cache",
        action="store_true",
        help="forget all fetched history kept on disk (in the user cache folder) first",
    )


def chosen_connection(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """The connection the flags, STATEBACKED_* variables and profile name: (it, why not)."""
    from smb_tui.config import ConfigError, Profile, resolve

    context = None
    if args.auth_context:
        try:
            context = json.loads(args.auth_context)
        except ValueError:
            context = None
        if not isinstance(context, dict):
            parser.error('--auth-context must be a JSON object, like \'{"sub": "user-1"}\'')
    secret = args.dash_secret
    if getattr(args, "dash_secret_file", None) is not None:
        if secret is not None:
            parser.error("give --secret or --secret-file, not both")
        try:
            secret = args.dash_secret_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            parser.error(f"cannot read --secret-file: {error}")
        if not secret:
            parser.error(f"--secret-file {args.dash_secret_file} is empty")
    flags = Profile(
        api_url=args.api_url,
        org_id=args.dash_org_id,
        token=args.token,
        key_id=args.dash_key_id,
        secret=secret,
        auth_context=context,
        anonymous=args.anonymous,
        bundles=_bundle_flags(getattr(args, "dash_bundles", []), parser),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            connection, reason = resolve(flags, args.profile), ""
        except ConfigError as error:
            connection, reason = None, str(error)
    for warning in caught:
        print(f"smb-tui: {warning.message}", file=sys.stderr)
    return connection, reason


def _bundle_flags(given: list[str], parser: argparse.ArgumentParser) -> dict[str, str] | None:
    bundles: dict[str, str] = {}
    for item in given:
        machine, sign, file = item.partition("=")
        if not sign or not machine or not file:
            parser.error(f"--bundle takes MACHINE=FILE, not {item!r}")
        bundles[machine] = str(Path(file).expanduser().resolve())
    return bundles or None


def run_dashboard(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.core.history_cache import CacheUnavailable, HistoryCache, default_cache_path
    from smb_tui.paths import settings_path
    from smb_tui.tui.app import SmbTui

    connection, reason = chosen_connection(args, parser)
    cache_path = None if args.no_cache else default_cache_path()
    if args.clear_cache:
        try:
            cache = HistoryCache(default_cache_path())
            cache.clear()
            cache.close()
            print(f"smb-tui: cleared the history cache {default_cache_path()}", file=sys.stderr)
        except CacheUnavailable:
            for suffix in ("", "-wal", "-shm"):  # unreadable: start a new one
                Path(f"{default_cache_path()}{suffix}").unlink(missing_ok=True)
            print(f"smb-tui: removed the unreadable cache {default_cache_path()}", file=sys.stderr)
    copy_to = None
    if args.copy_to:
        from smb_tui.config import ConfigError, Profile, resolve

        try:
            copy_to = resolve(Profile(), args.copy_to)
        except ConfigError as error:
            print(f"smb-tui: --copy-to {args.copy_to}: {error}", file=sys.stderr)
            return 2
    SmbTui(
        connection,
        reason=reason,
        machine=args.machine,
        instance=args.instance,
        cache_path=cache_path,
        settings_path=settings_path(),
        copy_to=copy_to,
    ).run()
    return 0


def debug_log(path: Path) -> None:
    """Requests to `path` (appended; created mode 0600: paths name machines and
    instances), from the API client's logger only."""
    import logging
    import os

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    handler = logging.StreamHandler(os.fdopen(descriptor, "a", encoding="utf-8", buffering=1))
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("smb_tui.api")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False  # not into the dashboard's own log of warnings too

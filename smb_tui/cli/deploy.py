"""`smb-tui deploy` (a machine version from a file or folder, as smply deploys one) and
`smb-tui smply-session` (smply's own commands against the local server)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from smb_tui.cli.dashboard import chosen_connection, connection_options


def deploy_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    deploy = commands.add_parser(
        "deploy",
        help="deploy a machine bundle as a new version (State Backed or smb-tui local)",
        description="Upload FILE, an ES module bundle (esbuild --bundle --format=esm, as smply"
        " builds it), as a new version of MACHINE; the machine is created if it does not"
        " exist. Connects as the dashboard does (--profile, --api-url, STATEBACKED_*).",
    )
    deploy.add_argument("machine_name", metavar="MACHINE")
    deploy.add_argument("file", type=Path, metavar="FILE")
    deploy.add_argument(
        "--make-current", action="store_true", help="new instances start on this version"
    )
    deploy.add_argument("--client-info", default="", help="your label for it (a git sha, say)")
    deploy.add_argument(
        "--migration-from",
        nargs=2,
        metavar=("VERSION_ID", "MIGRATION_FILE"),
        help="also deploy a migration module from that version to this one",
    )
    deploy.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="NAME=JSONPATH",
        help="an index selector of this version ($.email); repeat for each index",
    )
    connection_options(deploy, after_command=True)


def smply_session_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    session = commands.add_parser(
        "smply-session",
        help="give smply a session for smb-tui local (writes ~/.smply/credentials, 0600)",
        description="smply reads its session from ~/.smply/credentials. This writes one whose"
        " access token is signed with the local server's key (the one `smb-tui local` uses:"
        " generated, or --key-id with --secret-file / STATEBACKED_SECRET_KEY), so that"
        " `smply --api-url http://127.0.0.1:8787 ...` works offline. It will not replace a"
        " real State Backed login unless --force.",
    )
    session.add_argument("--key-id", help="the key id `smb-tui local --key-id` was given")
    session.add_argument("--secret-file", type=Path, help="a file holding that key's secret")
    session.add_argument("--sub", default="local-author", help="the end user smply acts as")
    session.add_argument("--days", type=float, default=30, help="how long it holds (30)")
    session.add_argument(
        "--force", action="store_true", help="replace credentials that smb-tui did not write"
    )


SMPLY_MARK = "smb_tui_local"  # in credentials smb-tui wrote: may be replaced without --force


def run_smply_session(args: argparse.Namespace) -> int:
    import time

    from smb_tui.core.keys import LocalKey, load_or_create_key
    from smb_tui.local.auth import sign_key_token
    from smb_tui.paths import default_key_path, write_private_file

    if args.key_id:
        try:
            secret = (
                args.secret_file.read_text().strip()
                if args.secret_file is not None
                else os.environ.get("STATEBACKED_SECRET_KEY", "")
            )
        except OSError as error:
            print(f"smb-tui smply-session: cannot read --secret-file: {error}", file=sys.stderr)
            return 2
        if not secret:
            print(
                "smb-tui smply-session: --key-id needs its secret (--secret-file or"
                " STATEBACKED_SECRET_KEY)",
                file=sys.stderr,
            )
            return 2
        key = LocalKey(args.key_id, secret)
    else:
        key = load_or_create_key(default_key_path())
    if args.days <= 0:
        print("smb-tui smply-session: --days must be positive", file=sys.stderr)
        return 2
    # smply's own rule: $HOME/.smply (or ./.smply with no HOME)
    path = Path(os.environ.get("HOME", ".")) / ".smply" / "credentials"
    if path.exists() and not args.force:
        try:
            ours = json.loads(path.read_text()).get(SMPLY_MARK) is True
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            print(
                f"smb-tui smply-session: {path} holds another session (a State Backed login?);"
                " it is left as it is. --force replaces it (log in again with `smply login`"
                " after)",
                file=sys.stderr,
            )
            return 1
    lifetime = round(args.days * 86400)
    token = sign_key_token(key, {"sub": args.sub}, expires_in=lifetime)
    expires_at = int(time.time()) + lifetime
    # The session supabase-js keeps (smply logs in through Supabase): a token that has
    # not expired is used as it is, with no call to Supabase.
    session = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "expires_at": expires_at,
        "refresh_token": "smb-tui-local",
        "user": {"id": args.sub, "aud": "authenticated", "role": "authenticated"},
        SMPLY_MARK: True,
    }
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    write_private_file(path, json.dumps(session))
    print(
        f"wrote {path} (mode 0600): smply acts as {args.sub!r} with key {key.key_id} for"
        f" {args.days:g} days.\nUse it: smply --api-url http://127.0.0.1:8787 machines list",
        file=sys.stderr,
    )
    return 0


def run_deploy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.api.errors import NotFound, StateBackedError
    from smb_tui.core.text import safe

    connection, reason = chosen_connection(args, parser)
    if connection is None:
        print(f"smb-tui deploy: {reason}", file=sys.stderr)
        return 2
    selectors = {}
    for entry in args.index:
        name, equals, path = entry.partition("=")
        if not equals or not name or not path:
            parser.error(f"--index takes NAME=JSONPATH, like email=$.email, not {entry!r}")
        selectors[name] = path
    try:
        code = args.file.read_text()
        migration = None
        if args.migration_from:
            migration = (args.migration_from[0], Path(args.migration_from[1]).read_text())
    except (OSError, UnicodeDecodeError) as error:
        print(f"smb-tui deploy: cannot read the bundle: {error}", file=sys.stderr)
        return 2

    def progress(step: str) -> None:
        print(f"  {args.machine_name}: {step}", file=sys.stderr, flush=True)

    async def main() -> str:
        async with connection.client() as client:
            try:
                await client.get_machine(args.machine_name)
            except NotFound:
                progress("no such machine: creating it")
                await client.create_machine(args.machine_name, sorted(selectors))
            version = await client.create_version(
                args.machine_name,
                code,
                client_info=args.client_info,
                make_current=args.make_current,
                index_selectors=selectors or None,
                progress=progress,
            )
            if migration is not None:
                await client.create_migration(
                    args.machine_name, migration[0], version, migration[1], progress=progress
                )
            return version

    try:
        version = asyncio.run(main())
    except StateBackedError as error:
        print(f"smb-tui deploy: {safe(error)}", file=sys.stderr)
        return 1
    current = " (current)" if args.make_current else ""
    print(f"smb-tui deploy: {args.machine_name} version {version}{current}", file=sys.stderr)
    print(version)
    return 0

"""The `smb-tui` command: parses arguments and picks what to start."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def _local_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = commands.add_parser(
        "local", help="run a local State Backed-compatible server with demo machines"
    )
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=_port, default=8787)
    local.add_argument("--db", type=Path, help="SQLite database (default: in the user data dir)")
    local.add_argument(
        "--machines",
        type=Path,
        metavar="DIR",
        help="a folder of machines to load too: XState modules (NAME.js, NAME/*.js) and *.py",
    )
    local.add_argument(
        "--watch",
        action="store_true",
        help="a changed XState module in --machines DIR becomes a new, current version of its"
        " machine; instances move to it at their next event",
    )
    local.add_argument(
        "--allow-fetch",
        action="store_true",
        help="let XState machine code use fetch, to any address this machine reaches, 127.0.0.1"
        " included (off: it fails, with a line in the logs)",
    )
    local.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes that run XState machine code (default: one a core, 2 to 4)",
    )
    local.add_argument("--no-demo", action="store_true", help="leave out the demo machines")
    local.add_argument("--key-id", help="the API key id tokens must name (default: generated)")
    local.add_argument(
        "--secret",
        help="the API key's secret (default: generated); shows in `ps`, so prefer"
        " --secret-file or STATEBACKED_SECRET_KEY",
    )
    local.add_argument(
        "--secret-file", type=Path, help="a file holding the API key's secret (one line)"
    )
    local.add_argument(
        "--org-id",
        action="append",
        dest="org_ids",
        metavar="ORG",
        help="an org id anonymous sessions may use (repeatable)",
    )
    local.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a web origin that may call the server (repeatable; default: any, '*')",
    )
    local.add_argument(
        "--max-connections", type=int, default=1000, help="beyond it, answer 503 (default 1000)"
    )
    local.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close a connection idle this long (default 30)",
    )
    local.add_argument("--page-size", type=int, default=100)
    local.add_argument("--settle-timeout", type=float, default=10.0, metavar="SECONDS")


def run_local(args: argparse.Namespace) -> int:
    from smb_tui.core.keys import LocalKey
    from smb_tui.local.server import LocalServer, ServerOptions
    from smb_tui.paths import data_dir

    if args.secret_file is not None:
        try:
            args.secret = args.secret_file.read_text().strip()
        except OSError as error:
            print(f"smb-tui local: cannot read --secret-file: {error.strerror}", file=sys.stderr)
            return 2
    elif args.secret is None and args.key_id:
        args.secret = os.environ.get("STATEBACKED_SECRET_KEY") or None
    if bool(args.key_id) != bool(args.secret):
        print(
            "smb-tui local: give --key-id and a secret together (--secret-file,"
            " STATEBACKED_SECRET_KEY or --secret)",
            file=sys.stderr,
        )
        return 2
    if args.watch and args.machines is None:
        print("smb-tui local: --watch watches --machines DIR: name the folder", file=sys.stderr)
        return 2
    if min(args.page_size, args.settle_timeout, args.max_connections, args.idle_timeout) <= 0:
        print(
            "smb-tui local: --page-size, --settle-timeout, --max-connections and"
            " --idle-timeout must be positive",
            file=sys.stderr,
        )
        return 2
    options = ServerOptions(
        host=args.host,
        port=args.port,
        db=args.db or data_dir() / "local.db",
        machines_dir=args.machines,
        watch=args.watch,
        allow_fetch=args.allow_fetch,
        workers=args.workers,
        demo=not args.no_demo,
        key=LocalKey(args.key_id, args.secret) if args.key_id else None,
        page_size=args.page_size,
        settle_timeout=args.settle_timeout,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
    )
    if args.cors_origin:
        options.cors_origins = tuple(args.cors_origin)
    if args.org_ids:
        options.org_ids = tuple(args.org_ids)
    try:
        server = LocalServer(options)
    except (OSError, ValueError, SyntaxError, ImportError) as error:
        print(f"smb-tui local: {error}", file=sys.stderr)
        return 1

    async def announce() -> None:
        await asyncio.to_thread(server.started.wait)
        if not server.base_url:
            return  # it did not start; uvicorn said why
        print(f"State Backed API on {server.base_url}", flush=True)
        print(f"  database: {options.db}", flush=True)
        print(f"  key id:   {server.key.key_id}", flush=True)
        if args.key_id is None:
            print(f"  secret:   in {options.key_path} (mode 0600)", flush=True)
        print(f"  org id:   {', '.join(options.org_ids)}", flush=True)
        print("Ctrl-C stops it.", flush=True)

    async def main() -> None:
        announcer = asyncio.create_task(announce())
        try:
            await server.serve()
        finally:
            announcer.cancel()

    # uvicorn shuts down gracefully on SIGTERM, then raises it again for the handler it
    # found: this one ends the process with status 0 (also if SIGTERM comes at start-up).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main())
    except OSError as error:
        print(f"smb-tui local: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0 if server.base_url else 1


def _dashboard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="a profile in config.toml ('local': smb-tui local)")
    parser.add_argument("--api-url", help="the API's base URL (default: production)")
    parser.add_argument("--token", help="a bearer token")
    parser.add_argument(
        "--key-id", dest="dash_key_id", metavar="KEY_ID", help="an API key id (sbk_...)"
    )
    parser.add_argument(
        "--secret", dest="dash_secret", metavar="SECRET", help="the API key's secret"
    )
    parser.add_argument(
        "--auth-context",
        metavar="JSON",
        help='the end user a key acts as, e.g. \'{"sub": "user-1"}\'',
    )
    parser.add_argument("--org-id", dest="dash_org_id", metavar="ORG", help="the org id")
    parser.add_argument("--anonymous", action="store_true", help="an anonymous session of --org-id")
    parser.add_argument("--machine", help="open on this machine")
    parser.add_argument("--instance", help="open on this instance (with --machine)")
    parser.add_argument(
        "--no-cache", action="store_true", help="keep no fetched history on disk this time"
    )
    parser.add_argument(
        "--clear-cache",
        action="store_true",
        help="forget all fetched history kept on disk (in the user cache folder) first",
    )


def _connection(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
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
    flags = Profile(
        api_url=args.api_url,
        org_id=args.dash_org_id,
        token=args.token,
        key_id=args.dash_key_id,
        secret=args.dash_secret,
        auth_context=context,
        anonymous=args.anonymous,
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


def run_dashboard(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.core.history_cache import CacheUnavailable, HistoryCache, default_cache_path
    from smb_tui.paths import settings_path
    from smb_tui.tui.app import SmbTui

    connection, reason = _connection(args, parser)
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
    SmbTui(
        connection,
        reason=reason,
        machine=args.machine,
        instance=args.instance,
        cache_path=cache_path,
        settings_path=settings_path(),
    ).run()
    return 0


def _export_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = commands.add_parser(
        "export", help="write an instance's whole history, or logs, as JSON lines or CSV"
    )
    kinds = export.add_subparsers(dest="what", required=True)
    history = kinds.add_parser("history", help="every transition of an instance")
    history.add_argument("machine_name", metavar="MACHINE")
    history.add_argument("instance_name", metavar="INSTANCE")
    history.add_argument(
        "--oldest-first", action="store_true", help="oldest first (default: newest first)"
    )
    logs = kinds.add_parser("logs", help="log entries, oldest first")
    logs.add_argument("--from", dest="start", default="1970-01-01T00:00:00Z", metavar="TIME")
    logs.add_argument("--to", dest="end", metavar="TIME")
    logs.add_argument("--of-machine", dest="log_machine", metavar="MACHINE")
    logs.add_argument("--of-instance", dest="log_instance", metavar="INSTANCE")
    logs.add_argument("--of-version", dest="log_version", metavar="VERSION_ID")
    for kind in (history, logs):
        kind.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
        kind.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def _cached(connection: Any, args: argparse.Namespace) -> Any:
    """The dashboard's history cache of this instance, if it can be read."""
    from smb_tui.core.history_cache import CacheUnavailable, HistoryCache, default_cache_path

    if not default_cache_path().exists():
        return None
    try:
        return HistoryCache(default_cache_path()).history(
            connection.base_url, connection.org_id, args.machine_name, args.instance_name
        )
    except CacheUnavailable:
        return None


def run_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui import export
    from smb_tui.api import StateBackedClient
    from smb_tui.api.errors import StateBackedError
    from smb_tui.core.text import safe

    connection, reason = _connection(args, parser)
    if connection is None:
        print(f"smb-tui export: {reason}", file=sys.stderr)
        return 2
    noun = "transitions" if args.what == "history" else "log entries"
    show_progress = sys.stderr.isatty()

    def progress(count: int) -> None:
        if show_progress:
            print(f"\r  exported {count:,} {noun}", end="", file=sys.stderr, flush=True)

    async def main() -> int:
        async with StateBackedClient(
            connection.auth, connection.base_url, org_id=connection.org_id
        ) as client:
            with export.output(args.output, sys.stdout) as out:
                if args.what == "history":
                    items: Any = export.history(
                        client,
                        args.machine_name,
                        args.instance_name,
                        args.oldest_first,
                        None if args.no_cache else _cached(connection, args),
                    )
                    columns: tuple[str, ...] = export.HISTORY_COLUMNS
                else:
                    items = export.logs(
                        client,
                        args.start,
                        args.end,
                        args.log_machine,
                        args.log_instance,
                        args.log_version,
                    )
                    columns = export.LOG_COLUMNS
                return await export.export(
                    items, export.Writer(out, args.format, columns), progress
                )

    kept = f"; {args.output} was left as it was" if args.output is not None else ""
    try:
        count = asyncio.run(main())
    except BrokenPipeError:
        # The reader stopped (`| head`): fine. Quiet the flush Python tries at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except StateBackedError as error:
        print(f"\nsmb-tui export: {safe(error)}{kept}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"\nsmb-tui export: {error.strerror or error}{kept}", file=sys.stderr)
        return 1
    if show_progress or args.output is not None:
        where = f" to {args.output}" if args.output is not None else ""
        print(f"\r  exported {count:,} {noun}{where}", file=sys.stderr)
    return 0


def _deploy_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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


def _smply_session_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    import json
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
    from smb_tui.api import StateBackedClient
    from smb_tui.api.errors import NotFound, StateBackedError
    from smb_tui.core.text import safe

    connection, reason = _connection(args, parser)
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
        async with StateBackedClient(
            connection.auth, connection.base_url, org_id=connection.org_id
        ) as client:
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


def run_demo(args: argparse.Namespace) -> int:
    from smb_tui.paths import settings_path
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.demo import start_demo

    server, connection = start_demo()
    try:
        SmbTui(
            connection,
            machine=args.machine,
            instance=args.instance,
            demo_server=server,
            settings_path=settings_path(),
        ).run()
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smb-tui",
        description="A terminal dashboard for State Backed. With no command, it opens the"
        " dashboard on the API your flags, STATEBACKED_* variables or profile name.",
    )
    _dashboard_options(parser)
    commands = parser.add_subparsers(dest="command")
    _local_parser(commands)
    _export_parser(commands)
    _deploy_parser(commands)
    _smply_session_parser(commands)
    demo = commands.add_parser(
        "demo", help="the dashboard on a built-in local server with demo machines"
    )
    demo.add_argument("--machine", help="open on this machine")
    demo.add_argument("--instance", help="open on this instance (with --machine)")
    args = parser.parse_args(argv)
    if args.command == "local":
        return run_local(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "export":
        return run_export(args, parser)
    if args.command == "deploy":
        return run_deploy(args, parser)
    if args.command == "smply-session":
        return run_smply_session(args)
    return run_dashboard(args, parser)

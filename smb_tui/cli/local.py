"""`smb-tui local`: a State Backed-compatible server on this machine."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import ipaddress
import os
import signal
import sys
from pathlib import Path


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def listen_options(parser: argparse.ArgumentParser, *, port: int, host_help: str) -> None:
    """--host and --port of a command that listens (`local`, `serve`)."""
    parser.add_argument("--host", default="127.0.0.1", help=host_help)
    parser.add_argument(
        "--port", type=_port, default=port, help=f"the port (default {port}; 0: any free one)"
    )


def local_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = commands.add_parser(
        "local",
        help="run a local State Backed-compatible server with demo machines",
        description="A server speaking State Backed's HTTP API (and its realtime"
        " WebSocket) on this machine, over a SQLite database: for the dashboard, the"
        " official client and smply, with no account and no network. It runs the demo"
        " machines and any in --machines DIR (XState modules on V8, python-statemachine"
        " charts). Its key is made once and kept in the user data folder (mode 0600; the"
        " key id is printed at start), or given with --key-id and a secret; the profile"
        " `local` connects to it. /openapi.json describes every route.",
    )
    listen_options(
        local,
        port=8787,
        host_help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0"
        " lets others on the network reach it and its key's holders)",
    )
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
    local.add_argument(
        "--page-size",
        type=int,
        default=100,
        metavar="N",
        help="items in a list's page: transitions, instances, machines (default 100)",
    )
    local.add_argument(
        "--settle-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long an event may take to settle (services, after-timers due) before"
        " its answer says so (default 10)",
    )


def run_local(args: argparse.Namespace) -> int:
    gc.disable()  # until it serves (`set_start_up_aside`); on again however it ends
    try:
        return _serve(args)
    finally:
        gc.enable()


def _serve(args: argparse.Namespace) -> int:
    from smb_tui.core.keys import LocalKey
    from smb_tui.local.options import listening_socket
    from smb_tui.local.server import LocalServer, ServerOptions, set_start_up_aside
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
    if _is_address(args.host):
        # Listening before the server loads: a port in use is said in one line (uvicorn
        # would log it and end in a traceback), and early requests wait in the backlog.
        try:
            options.sock = listening_socket(args.host, args.port)
        except OSError as error:
            return cannot_listen("local", args.host, args.port, error, "another smb-tui local? ")
    try:
        server = LocalServer(options)
    except (OSError, ValueError, SyntaxError, ImportError) as error:
        print(f"smb-tui local: {error}", file=sys.stderr)
        return 1

    async def announce() -> None:
        await asyncio.to_thread(server.started.wait)
        set_start_up_aside()
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


def _is_address(host: str) -> bool:
    """An IP address (not a name such as localhost, which may stand for several)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def cannot_listen(command: str, host: str, port: int, error: OSError, guess: str = "") -> int:
    """Say in one line that `command` cannot listen on host:port, and why (status 1); a
    port in use says how to choose another, after `guess` (what may hold it)."""
    hint = f" ({guess}--port picks another)" if error.errno == errno.EADDRINUSE else ""
    print(
        f"smb-tui {command}: cannot listen on {host}:{port}: {error.strerror or error}{hint}",
        file=sys.stderr,
    )
    return 1

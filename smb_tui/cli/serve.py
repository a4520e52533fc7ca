"""`smb-tui serve`: the dashboard in a web browser (textual-serve), behind a token.

textual-serve runs the app once per browser tab, with this process's credentials, and
has no authentication of its own: whoever reaches its port drives the dashboard. So it
listens on 127.0.0.1 unless told otherwise (with a warning), and every request must
carry a random token: in the URL printed once at start, after which the page keeps it
in a cookie (HttpOnly, SameSite=Strict) for its assets and its WebSocket. Secrets given
as flags reach the dashboards through the environment, never their command lines.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import secrets
import shlex
import sys
from typing import Any

from smb_tui.cli.dashboard import connection_options, opening_options
from smb_tui.cli.local import cannot_listen, listen_options

COOKIE = "smb_tui_serve"


def serve_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser(
        "serve",
        help="the dashboard in a web browser, behind a token (textual-serve)",
        description="Serves the dashboard to web browsers (each tab runs its own, with this"
        " command's connection). It listens on 127.0.0.1 only, unless --host says"
        " otherwise, and every request needs the token in the URL printed at start (the"
        " page then keeps it in a cookie). From another machine, forward the port over"
        " SSH rather than opening it: ssh -L 8000:127.0.0.1:8000 bastion, then open the"
        " printed URL on your own machine. Needs textual-serve: pip install 'smb-tui[web]'.",
    )
    listen_options(
        serve,
        port=8000,
        host_help="the address to listen on (default 127.0.0.1; any other lets the network"
        " reach it, token still required: a warning says so)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL browsers reach it by, when not http://HOST:PORT (behind a proxy)",
    )
    opening_options(serve)
    connection_options(serve, after_command=True)


def _dashboard_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The command each browser tab runs, and the environment that carries the secrets
    (a command line shows in `ps`)."""
    command = [sys.executable, "-m", "smb_tui"]
    environment: dict[str, str] = {}
    flags = {
        "--profile": args.profile,
        "--api-url": args.api_url,
        "--key-id": args.dash_key_id,
        "--auth-context": args.auth_context,
        "--org-id": args.dash_org_id,
        "--machine": args.machine,
        "--instance": args.instance,
    }
    if getattr(args, "dash_secret_file", None) is not None:
        flags["--secret-file"] = str(args.dash_secret_file.resolve())
    if getattr(args, "debug", None) is not None:
        flags["--debug"] = str(args.debug.resolve())
    for flag, value in flags.items():
        if value is not None:
            command.append(f"{flag}={value}")
    for flag in ("anonymous", "no_cache"):
        if getattr(args, flag, False):
            command.append(f"--{flag.replace('_', '-')}")
    if args.token:
        environment["STATEBACKED_TOKEN"] = args.token
    if args.dash_secret:
        environment["STATEBACKED_SECRET_KEY"] = args.dash_secret
    return command, environment


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def guarded_server(command: str, host: str, port: int, public_url: str | None, token: str) -> Any:
    """A textual-serve Server that answers only requests carrying `token`."""
    from aiohttp import web
    from textual_serve.server import Server

    class Guarded(Server):  # type: ignore[misc]
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # it would print its logo and the command (not a secret, but noise)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(
                status=403,
                text="smb-tui serve: open the URL with the token that `smb-tui serve` printed\n",
            )
        response: web.StreamResponse = await handler(request)
        if request.query.get("token") and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    return Guarded(command, host=host, port=port, title="smb-tui", public_url=public_url)


def run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from importlib.util import find_spec

    if find_spec("textual_serve") is None:
        print(
            "smb-tui serve needs textual-serve, which this installation leaves out:"
            " pip install 'smb-tui[web]' (or pip install textual-serve)",
            file=sys.stderr,
        )
        return 2
    if not _loopback(args.host):
        print(
            f"smb-tui serve: warning: listening on {args.host}: anyone who reaches it and"
            " has the token drives the dashboard with this command's credentials; prefer"
            " the default (127.0.0.1) and SSH port forwarding",
            file=sys.stderr,
        )
    port = args.port
    from smb_tui.local.options import listening_socket

    try:  # the port free (or one chosen), before a URL is shown for it
        with listening_socket(args.host, port) as probe:
            port = probe.getsockname()[1]
    except OSError as error:
        return cannot_listen("serve", args.host, args.port, error)
    command, environment = _dashboard_command(args)
    os.environ.update(environment)  # the dashboards inherit it
    token = secrets.token_urlsafe(24)
    shown = args.host if _loopback(args.host) else "HOST"
    base = (args.public_url or f"http://{shown}:{port}").rstrip("/")
    server = guarded_server(shlex.join(command), args.host, port, args.public_url, token)
    print(f"smb-tui serve: open {base}/?token={token}", flush=True)
    print("  (the token is shown this once; Ctrl-C stops serving)", flush=True)
    try:
        server.serve()
    except OSError as error:  # taken since the check above
        return cannot_listen("serve", args.host, port, error)
    return 0

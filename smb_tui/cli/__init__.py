"""The `smb-tui` command: parses arguments and picks what to start.

argparse, kept: every command is already an argparse parser, and what it lacked comes
with little: connection flags after the command are the same flags added to each
command's parser with `SUPPRESS` defaults (`connection_options`), completion for bash,
zsh and fish is argcomplete reading the parser itself (shtab writes no fish). click,
typer or cyclopts would have meant rewriting every command for the same result.

One module per command: `dashboard` (no command; its connection flags are every
command's), `local`, `export`, `logs`, `deploy` (and `smply-session`), `replay`, `chart`,
`serve`;
`demo`, `completion` and `help` are here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from smb_tui.cli.chart import chart_parser, run_chart
from smb_tui.cli.dashboard import dashboard_options, debug_log, opening_options, run_dashboard
from smb_tui.cli.deploy import deploy_parser, run_deploy, run_smply_session, smply_session_parser
from smb_tui.cli.export import export_parser, run_export
from smb_tui.cli.local import local_parser, run_local
from smb_tui.cli.logs import logs_parser, run_logs
from smb_tui.cli.replay import replay_parser, run_replay
from smb_tui.cli.serve import run_serve, serve_parser


def run_demo(args: argparse.Namespace) -> int:
    from smb_tui.tui.demo import start_demo

    # The server's process first: it starts (imports, V8 workers) while this one imports
    # the dashboard (0.4 s), not after.
    server, connection = start_demo()
    try:
        from smb_tui.paths import settings_path
        from smb_tui.tui.app import SmbTui

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


def print_keys() -> int:
    """The ? screen's content as plain text."""
    from smb_tui.tui.app import SmbTui
    from smb_tui.tui.screens.dashboard import key_sections
    from smb_tui.tui.screens.modals.help import section_text

    for title, bindings in key_sections(SmbTui.BINDINGS):
        print(section_text(title, bindings).plain)
    return 0


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smb-tui")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "(not installed)"


def _times_joined(argv: list[str]) -> list[str]:
    """`--from -1h` as `--from=-1h`: argparse takes a value that starts with `-` for an
    option (and says "expected one argument")."""
    out: list[str] = []
    for index, item in enumerate(argv):
        previous = argv[index - 1] if index else ""
        if previous in ("--from", "--to", "--every") and item[:1] == "-" and item[1:2].isdigit():
            out[-1] = f"{previous}={item}"
            continue
        out.append(item)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smb-tui",
        description="A terminal dashboard for State Backed. With no command, it opens the"
        " dashboard on the API named by the connection flags, else by the STATEBACKED_*"
        " variables, else by a profile. The connection flags also work after a command:"
        " `smb-tui export history counter busy --profile local`.",
    )
    dashboard_options(parser)
    parser.add_argument("--version", action="version", version=f"smb-tui {installed_version()}")
    commands = parser.add_subparsers(dest="command")
    local_parser(commands)
    export_parser(commands)
    logs_parser(commands)
    deploy_parser(commands)
    smply_session_parser(commands)
    replay_parser(commands)
    chart_parser(commands)
    serve_parser(commands)
    demo = commands.add_parser(
        "demo", help="the dashboard on a built-in local server with demo machines"
    )
    opening_options(demo, cache=False)
    completion = commands.add_parser(
        "completion",
        help="print the shell code that completes smb-tui's commands and flags",
        description="Prints the code that makes your shell complete smb-tui's commands and"
        " flags (argcomplete: the shell asks smb-tui itself). bash: add"
        ' `eval "$(smb-tui completion bash)"` to ~/.bashrc; zsh: the same in ~/.zshrc; fish:'
        " `smb-tui completion fish > ~/.config/fish/completions/smb-tui.fish`.",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    topics = commands.add_parser(
        "help", help="print the dashboard's keys (what ? shows), for reading or grep"
    )
    topics.add_argument("topic", choices=("keys",))
    if "_ARGCOMPLETE" in os.environ:  # the shell asks what may come next: answer, exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(_times_joined(sys.argv[1:] if argv is None else list(argv)))
    if getattr(args, "debug", None) is not None:
        try:
            debug_log(args.debug)
        except OSError as error:
            parser.error(f"cannot write --debug {args.debug}: {error.strerror}")
    needs_server = args.command in ("demo", "local", "replay", "smply-session") or (
        args.command == "chart" and args.bundle is not None
    )
    if needs_server:
        from smb_tui.install import server_needed

        why = server_needed(f"smb-tui {args.command}")
        if why is not None:
            print(f"smb-tui: {why}", file=sys.stderr)
            return 2
    try:
        return _dispatch(args, parser)
    except BrokenPipeError:  # what reads stdout stopped (`| head`): fine
        from smb_tui.cli.export import reader_gone

        return reader_gone()


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "help":
        return print_keys()
    if args.command == "completion":
        import argcomplete

        print(argcomplete.shellcode(["smb-tui"], shell=args.shell), end="")
        return 0
    if args.command == "local":
        return run_local(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "export":
        return run_export(args, parser)
    if args.command == "logs":
        return run_logs(args, parser)
    if args.command == "deploy":
        return run_deploy(args, parser)
    if args.command == "smply-session":
        return run_smply_session(args)
    if args.command == "replay":
        return run_replay(args, parser)
    if args.command == "chart":
        return run_chart(args, parser)
    if args.command == "serve":
        return run_serve(args, parser)
    return run_dashboard(args, parser)

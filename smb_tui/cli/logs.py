"""`smb-tui logs`: log entries printed as they come, `--follow` keeps reading (as
`smply logs watch` and `tail -f` do)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from smb_tui.cli.dashboard import chosen_connection, connection_options

FOLLOW_EVERY = 2.0  # seconds between reads once caught up (State Backed's logs lag ~seconds)


def logs_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    logs = commands.add_parser(
        "logs",
        help="print log entries; --follow keeps printing new ones, as tail -f",
        description="Prints the log entries of machines' code (what it printed, and"
        " errors), oldest first, one a line: time, machine/instance, text. With --follow it"
        " keeps reading, as `smply logs watch` and `tail -f` do, until Ctrl-C; a server"
        " that is away is said and tried again. Text from the server is shown made safe"
        " (no escape sequence reaches the terminal).",
    )
    logs.add_argument(
        "--from",
        dest="start",
        default="10m ago",
        metavar="TIME",
        help="2026-11-20 14:05 (UTC), an ISO time, 3h ago, -3h, 90m (default: 10m ago)",
    )
    logs.add_argument("--of-machine", dest="log_machine", metavar="MACHINE")
    logs.add_argument("--of-instance", dest="log_instance", metavar="INSTANCE")
    logs.add_argument("--of-version", dest="log_version", metavar="VERSION_ID")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    logs.add_argument(
        "--every",
        type=float,
        default=FOLLOW_EVERY,
        metavar="SECONDS",
        help=f"with --follow, how often to look for more (default {FOLLOW_EVERY:g})",
    )
    logs.add_argument("--json", action="store_true", help="each entry as a JSON line")
    connection_options(logs, after_command=True)


def line_of(entry: Any) -> str:
    """One entry for a person: its time, where it came from, its text, made safe; a
    text of several lines continues indented."""
    from smb_tui.core.text import safe

    first, *rest = entry.log.split("\n") or [""]
    where = f"{safe(entry.machine_name)}/{safe(entry.instance_name)}"
    mark = " !" if entry.output_type == "stderr" else ""
    lines = [f"{safe(entry.timestamp)}  {where}{mark}  {safe(first)}"]
    lines += [f"    {safe(more)}" for more in rest]
    return "\n".join(lines)


def run_logs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.api.errors import ConnectionFailed, StateBackedError, TimedOut
    from smb_tui.api.logs import LogsReader
    from smb_tui.cli.export import iso_moment, reader_gone
    from smb_tui.core.text import safe

    try:
        start = iso_moment(args.start)
    except ValueError as error:
        print(f"smb-tui logs: {error}", file=sys.stderr)
        return 2
    if not args.every > 0:
        print("smb-tui logs: --every must be positive", file=sys.stderr)
        return 2
    connection, reason = chosen_connection(args, parser)
    if connection is None:
        print(f"smb-tui logs: {reason}", file=sys.stderr)
        return 2

    def show(entry: Any, out: TextIO) -> None:
        if args.json:
            out.write(json.dumps(entry.model_dump(by_alias=True, exclude_none=True)) + "\n")
        else:
            out.write(line_of(entry) + "\n")

    async def main() -> int:
        async with connection.client() as client:
            reader = LogsReader(
                client,
                start,
                None,
                machine=args.log_machine,
                instance=args.log_instance,
                version=args.log_version,
            )
            away = False
            while True:
                try:
                    entries = await reader.next_page()
                except (ConnectionFailed, TimedOut) as error:
                    if not args.follow:
                        raise
                    if not away:  # said once, not once a try
                        print(f"smb-tui logs: {safe(error)}; still trying", file=sys.stderr)
                    away = True
                    await asyncio.sleep(args.every)
                    continue
                if away:
                    print("smb-tui logs: reading again", file=sys.stderr)
                    away = False
                for entry in entries:
                    show(entry, sys.stdout)
                sys.stdout.flush()
                if reader.caught_up:
                    if not args.follow:
                        return 0
                    await asyncio.sleep(args.every)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a follow ends
    except BrokenPipeError:
        return reader_gone()
    except StateBackedError as error:
        print(f"smb-tui logs: {safe(error)}", file=sys.stderr)
        return 1

"""`smb-tui export`: an instance's whole history, or logs, as JSON lines or CSV."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from smb_tui.cli.dashboard import chosen_connection, connection_options


def export_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    logs.add_argument(
        "--from",
        dest="start",
        default="1970-01-01T00:00:00Z",
        metavar="TIME",
        help="2026-11-20 14:05 (UTC), an ISO time, 3h ago, -3h, 90m (default: the start)",
    )
    logs.add_argument("--to", dest="end", metavar="TIME", help="as --from (default: now)")
    logs.add_argument("--of-machine", dest="log_machine", metavar="MACHINE")
    logs.add_argument("--of-instance", dest="log_instance", metavar="INSTANCE")
    logs.add_argument("--of-version", dest="log_version", metavar="VERSION_ID")
    for kind in (history, logs):
        kind.add_argument(
            "--format",
            choices=("jsonl", "csv"),
            help="default: csv for a FILE ending .csv, else jsonl (as the dashboard's E)",
        )
        kind.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
        connection_options(kind, after_command=True)


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


def iso_moment(text: str) -> str:
    """A time as the logs API takes it (ISO 8601, ms, UTC) from what people type, as the
    dashboard reads it: `2026-11-20 14:05`, `3h ago`, `-3h`, `90m`, `now`."""
    from datetime import UTC, datetime

    from smb_tui.core.describe import parse_when

    typed = text.strip()
    if typed.startswith("-") and typed[1:2].isdigit():
        typed = f"{typed[1:]} ago"
    moment = datetime.fromtimestamp(parse_when(typed, time.time()), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def reader_gone() -> int:
    """The reader of stdout stopped (`| head`): fine, status 0. Quiets the flush Python
    tries at exit, which would say so on stderr."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def run_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui import export
    from smb_tui.api.errors import StateBackedError
    from smb_tui.core.text import safe

    if args.what == "logs":
        try:
            args.start = iso_moment(args.start)
            args.end = None if args.end is None else iso_moment(args.end)
        except ValueError as error:
            print(f"smb-tui export: {error}", file=sys.stderr)
            return 2
    connection, reason = chosen_connection(args, parser)
    if connection is None:
        print(f"smb-tui export: {reason}", file=sys.stderr)
        return 2
    noun = "transitions" if args.what == "history" else "log entries"
    show_progress = sys.stderr.isatty()
    bar = _progress(noun) if show_progress else None
    task = bar.add_task("export", total=None) if bar is not None else None

    def progress(count: int) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=count)

    async def main() -> int:
        async with connection.client() as client:
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
                    items,
                    export.Writer(out, args.format or export.format_for(args.output), columns),
                    progress,
                )

    kept = f"; {args.output} was left as it was" if args.output is not None else ""
    try:
        if bar is not None:
            with bar:
                count = asyncio.run(main())
        else:
            count = asyncio.run(main())
    except BrokenPipeError:
        return reader_gone()
    except StateBackedError as error:
        print(f"smb-tui export: {safe(error)}{kept}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"smb-tui export: {error.strerror or error}{kept}", file=sys.stderr)
        return 1
    if show_progress or args.output is not None:
        where = f" to {args.output}" if args.output is not None else ""
        print(f"  exported {count:,} {noun}{where}", file=sys.stderr)
    return 0


def _progress(noun: str) -> Any:
    """Rich's progress on stderr (a terminal's only): how many, how fast, how long."""
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TimeElapsedColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {noun}/s" if speed else "", style="progress.data.speed")

    class Count(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"exported {task.completed:,.0f} {noun}", style="progress.download")

    return Progress(
        SpinnerColumn(),
        Count(),
        Rate(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,  # the summary line below stays, not the bar
    )

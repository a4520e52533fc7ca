"""`smb-tui replay`: an instance's history (from any server, or an export file) replayed
against a machine's code on the local engine, every recorded state compared with the
replayed one (see `smb_tui.local.replay`). Exits 0 when they agree, 1 when they diverge,
2 on an error: a project's CI can replay real histories against a new version before it
is made current."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from smb_tui.cli.dashboard import chosen_connection, connection_options


def replay_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = commands.add_parser(
        "replay",
        help="replay an instance's history against machine code, comparing every state",
        description="Replays the recorded events of an instance (MACHINE INSTANCE, read"
        " through the connection flags, or --history FILE from `smb-tui export history`)"
        " against a machine's code (--bundle), from the instance's creation, and compares"
        " the recorded state with the replayed one after every event. Services, spawned"
        " actors and timers do not run: their outcomes are the history's own events."
        " Exit status: 0 they agree, 1 they diverge, 2 an error.",
    )
    replay.add_argument("machine_name", metavar="MACHINE", nargs="?")
    replay.add_argument("instance_name", metavar="INSTANCE", nargs="?")
    replay.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="a JSON-lines history (`smb-tui export history`), in either order",
    )
    code = replay.add_mutually_exclusive_group(required=True)
    code.add_argument(
        "--bundle",
        type=Path,
        metavar="FILE",
        help="the machine's code: an XState module bundled as smply bundles it",
    )
    code.add_argument(
        "--version",
        metavar="VERSION_ID",
        help="a version of MACHINE on the local server the connection flags name"
        " ('current': its current one)",
    )
    replay.add_argument(
        "--json", action="store_true", help="print the report as JSON (for tools and CI)"
    )
    replay.add_argument(
        "--context",
        metavar="JSON",
        help="the instance's initial context (default: the machine's own)",
    )
    connection_options(replay, after_command=True)


def _history_file(path: Path) -> list[Any]:
    from smb_tui.local.replay import Recorded, ReplayError

    rows = []
    number = 0  # the last line read
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    event = item["event"]
                    rows.append(
                        Recorded(
                            str(item.get("createdAt", "")),
                            event if isinstance(event, dict) else {"type": str(event)},
                            item["state"],
                        )
                    )
                except (ValueError, KeyError, TypeError, RecursionError) as error:
                    raise ReplayError(
                        f"{path} line {number} is not a history row (createdAt, event,"
                        f" state): {error}"
                    ) from error
    except UnicodeDecodeError as error:
        # Decoded a block at a time: the lines read were whole, the bad bytes come later.
        where = f" (somewhere after line {number})" if number else ""
        raise ReplayError(
            f"{path} is not UTF-8 text{where}; export history writes UTF-8"
        ) from error
    return rows


async def _history_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    from smb_tui.local.replay import Recorded, ReplayError

    if args.history is not None:
        return _history_file(args.history)
    connection, reason = chosen_connection(args, parser)
    if connection is None:
        raise ReplayError(reason)
    async with connection.client() as client:
        return [
            Recorded(
                t.created_at,
                t.event if isinstance(t.event, dict) else {"type": str(t.event)},
                t.state,
            )
            async for t in client.transitions(args.machine_name, args.instance_name)
        ]


def _shown(value: object) -> str:
    from smb_tui.core.text import safe

    return safe(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def run_replay(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.api.errors import StateBackedError
    from smb_tui.core.text import safe
    from smb_tui.local.definitions import MachineVersion
    from smb_tui.local.engines.xstate import XStateEngine, load_module
    from smb_tui.local.engines.xstate_pool import WorkerPool
    from smb_tui.local.replay import ReplayError, event_type, replay

    def fail(message: str) -> int:
        print(f"smb-tui replay: {message}", file=sys.stderr)
        return 2

    named = args.machine_name is not None and args.instance_name is not None
    if args.history is not None:
        if args.instance_name is not None:
            return fail("give either MACHINE INSTANCE or --history FILE")
    elif not named:
        return fail("give either MACHINE INSTANCE or --history FILE")
    if args.version is not None and args.machine_name is None:
        return fail("--version names a version of MACHINE: give MACHINE")
    context: dict[str, Any] = {}
    if args.context is not None:
        try:
            context = json.loads(args.context)
        except ValueError as error:
            return fail(f"--context is not JSON: {error}")
        if not isinstance(context, dict):
            return fail("--context is not a JSON object")
    if args.bundle is not None and not args.bundle.is_file():
        return fail(f"no bundle at {safe(str(args.bundle))}")

    async def on_server(history: list[Any]) -> Any:
        from smb_tui.local.replay import Divergence, Report

        connection, reason = chosen_connection(args, parser)
        if connection is None:
            raise ReplayError(reason)
        rows = [{"createdAt": r.created_at, "event": r.event, "state": r.state} for r in history]
        async with connection.client() as client:
            answer = await client.replay_history(args.machine_name, args.version, rows, context)
        report = Report(rows=int(answer.get("rows", 0)))
        for d in answer["divergences"]:
            report.divergences.append(
                Divergence(
                    int(d.get("number", 0)),
                    str(d.get("createdAt", "")),
                    d.get("event") if isinstance(d.get("event"), dict) else {},
                    d.get("recorded"),
                    d.get("replayed"),
                    str(d.get("reason", "")),
                )
            )
        return report

    async def main() -> Any:
        history = await _history_of(args, parser)
        if args.version is not None:
            return await on_server(history)
        pool = WorkerPool(allow_fetch=False, size=1)
        try:
            try:
                module = load_module(args.bundle, pool)
            except ValueError as error:
                raise ReplayError(f"the bundle does not load: {error}") from error
            await pool.start()
            version = MachineVersion("replay", module)
            name = args.machine_name or args.bundle.stem
            return await replay(XStateEngine(), version, name, history, context)
        finally:
            await pool.aclose()

    try:
        report = asyncio.run(main())
    except ReplayError as error:
        return fail(safe(str(error)))
    except StateBackedError as error:
        return fail(safe(error))
    except OSError as error:
        return fail(safe(error.strerror or str(error)))
    if args.json:
        from smb_tui.local.replay import report_json

        print(json.dumps(report_json(report), ensure_ascii=True))
        return 0 if report.agrees else 1
    for divergence in report.divergences:
        print(
            f"#{divergence.number} {safe(divergence.created_at)}"
            f" {safe(event_type(divergence.event))}: {safe(divergence.reason)}\n"
            f"  recorded: {_shown(divergence.recorded)}\n"
            f"  replayed: {_shown(divergence.replayed)}"
        )
    if report.agrees:
        print(f"replayed {report.rows:,} transitions: every state agrees")
        return 0
    print(f"replayed {report.rows:,} transitions: {len(report.divergences):,} diverge")
    return 1

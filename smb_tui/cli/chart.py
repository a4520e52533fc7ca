"""`smb-tui chart`: a machine's statechart as text (drawn as the dashboard's `M` draws
it), Mermaid or Graphviz DOT; from a server that gives definitions (smb-tui local), or
from a bundle evaluated in an engine worker (never in this process)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from smb_tui.cli.dashboard import chosen_connection, connection_options

FORMATS = ("text", "svg", "mermaid", "dot", "json")
# The format a file's name asks for, when --format does not say.
BY_SUFFIX = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot"}
BY_SUFFIX |= {".gv": "dot", ".json": "json"}


def chart_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    chart = commands.add_parser(
        "chart",
        help="a machine's statechart: drawn as text, or as Mermaid or DOT",
        description="Prints a machine's statechart. The definition comes from --bundle (an"
        " XState module, evaluated in a worker process), else from the server the"
        " connection flags name (smb-tui local gives definitions; State Backed does not).",
    )
    chart.add_argument("machine_name", metavar="MACHINE")
    chart.add_argument(
        "--version", default="current", metavar="VERSION_ID", help="default: the current one"
    )
    chart.add_argument("--bundle", type=Path, metavar="FILE", help="the machine's code instead")
    chart.add_argument(
        "--format",
        choices=FORMATS,
        help="text: drawn as the dashboard draws it; svg: that drawing as a picture;"
        " json: the definition itself (default: as FILE's name says, .svg .mmd .dot .gv"
        " .json; else text)",
    )
    chart.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    connection_options(chart, after_command=True)


async def _from_bundle(path: Path) -> Any:
    from smb_tui.local.definitions import MachineVersion
    from smb_tui.local.engines.seam import MachineError
    from smb_tui.local.engines.xstate import XStateEngine, load_module
    from smb_tui.local.engines.xstate_pool import WorkerPool

    pool = WorkerPool(allow_fetch=False, size=1)
    try:
        try:
            module = load_module(path, pool)
        except ValueError as error:
            raise ValueError(f"the bundle does not load: {error}") from error
        await pool.start()
        try:
            return await XStateEngine().definition(MachineVersion("bundle", module))
        except MachineError as error:
            raise ValueError(str(error)) from error
    finally:
        await pool.aclose()


async def _from_server(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:

    connection, reason = chosen_connection(args, parser)
    if connection is None:
        raise ValueError(reason)
    async with connection.client() as client:
        return await client.get_definition(args.machine_name, args.version)


def run_chart(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from smb_tui.api.errors import NotFound, StateBackedError
    from smb_tui.core.chart import ChartTooLarge, dot, from_definition, mermaid
    from smb_tui.core.chart_draw import draw, svg
    from smb_tui.core.text import safe

    def fail(message: str, code: int = 1) -> int:
        print(f"smb-tui chart: {message}", file=sys.stderr)
        return code

    if args.bundle is not None and not args.bundle.is_file():
        return fail(f"no bundle at {safe(str(args.bundle))}")
    try:
        if args.bundle is not None:
            definition = asyncio.run(_from_bundle(args.bundle))
        else:
            definition = asyncio.run(_from_server(args, parser))
        chart = from_definition(definition)
    except NotFound as error:
        return fail(
            f"{safe(error)}; State Backed gives no definitions: use --bundle FILE, or a local"
            " server"
        )
    except (StateBackedError, ChartTooLarge, ValueError) as error:
        return fail(safe(error))
    except OSError as error:
        return fail(safe(error.strerror or str(error)))
    suffix = "" if args.output is None else args.output.suffix.lower()
    chosen = args.format or BY_SUFFIX.get(suffix, "text")
    if chosen == "json":
        raw = definition.model_dump() if hasattr(definition, "model_dump") else definition
        text = json.dumps(raw, ensure_ascii=True) + "\n"
    elif chosen == "svg":
        text = svg(draw(chart), f"The statechart of {args.machine_name}")
    elif chosen == "mermaid":
        text = mermaid(chart)
    elif chosen == "dot":
        text = dot(chart)
    else:
        text = draw(chart).text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as error:
        return fail(safe(error.strerror or str(error)))
    return 0

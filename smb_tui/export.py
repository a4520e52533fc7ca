"""`smb-tui export`: an instance's whole history, or logs, as JSON lines or CSV.

No Textual here. What a server sent is untrusted: JSON lines escape every character
past ASCII (so a terminal shows `\\u001b`, never runs it), CSV cells have controls made
visible by `safe` and cannot start a spreadsheet formula. A file is written beside its
target and renamed at the end, so a failed export (server error, full disk) leaves any
earlier file as it was.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from smb_tui.api import StateBackedClient
from smb_tui.api.errors import StateBackedError
from smb_tui.api.logs import LogsReader
from smb_tui.api.models import LogEntry, Page, Transition, Transitions
from smb_tui.core.history_cache import (
    CACHE_PAGE_ROWS,
    CacheCursor,
    CachedHistory,
    CacheUnavailable,
)
from smb_tui.core.text import safe

Format = Literal["jsonl", "csv"]


def format_for(path: Path | None) -> Format:
    """The format a file's name asks for: CSV for one ending .csv, else JSON lines."""
    return "csv" if path is not None and path.suffix.lower() == ".csv" else "jsonl"


PAGE_ROWS = CACHE_PAGE_ROWS  # transitions read from the history cache at a time
HISTORY_COLUMNS = ("createdAt", "eventType", "event", "state")
LOG_COLUMNS = ("timestamp", "machineName", "instanceName", "machineVersionId", "outputType", "log")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _cell(value: Any) -> str:
    """A CSV cell that shows what it holds and that no spreadsheet runs as a formula."""
    text = safe(value if isinstance(value, str) else _json(value))
    return f"'{text}" if text.startswith(FORMULA_START) else text


def history_record(transition: Transition) -> dict[str, Any]:
    return {
        "createdAt": transition.created_at,
        "event": transition.event,
        "state": transition.state,
    }


def log_record(entry: LogEntry) -> dict[str, Any]:
    return {
        "timestamp": entry.timestamp,
        "machineName": entry.machine_name,
        "instanceName": entry.instance_name,
        "machineVersionId": entry.machine_version_id,
        "outputType": entry.output_type,
        "log": entry.log,
    }


class Writer:
    """Records out as JSON lines or CSV rows."""

    def __init__(self, out: TextIO, fmt: Format, columns: tuple[str, ...]) -> None:
        self.fmt = fmt
        self.columns = columns
        self._out = out
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(columns)

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is None:
            self._out.write(_json(record) + "\n")
            return
        row = dict(record)
        if "event" in row and "eventType" in self.columns:
            event = row["event"]
            row["eventType"] = event if isinstance(event, str) else event.get("type", "")
        self._csv.writerow(
            ["" if row.get(name) is None else _cell(row[name]) for name in self.columns]
        )


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A private temporary file beside `path`, renamed to it when all went well."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            yield file
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def output(path: Path | None, stdout: TextIO) -> contextlib.AbstractContextManager[TextIO]:
    """`path` written atomically, or `stdout` when there is none."""
    return atomic_file(path) if path is not None else contextlib.nullcontext(stdout)


async def history(
    client: StateBackedClient,
    machine: str,
    instance: str,
    oldest_first: bool,
    cache: CachedHistory | None = None,
) -> AsyncIterator[Transition]:
    """Every transition, newest first as the API pages them, or oldest first. From the
    history cache when it holds all of it (then only the newer pages are fetched). A
    page at a time, whatever the history's size: oldest first, the pages wait in a
    temporary file, not in memory (an end user's events can be 400 kB each)."""
    newer = await _newer_than_cached(client, machine, instance, cache)
    pages: AsyncIterator[Sequence[Transition]]
    if newer is None or cache is None:
        pages = _server_pages(client, machine, instance)
    else:
        pages = _cached_pages(newer, cache)
    if oldest_first:
        pages = _reversed(pages)
    async for items in pages:
        for transition in items:
            yield transition


async def _newer_than_cached(
    client: StateBackedClient, machine: str, instance: str, cache: CachedHistory | None
) -> list[Transition] | None:
    """The pages newer than the cached ones, fetched; None: not cached to the start, or
    the cache is not this history's."""
    if cache is None:
        return None
    try:
        if not cache.complete():
            return None

        async def fetch(cursor: str | None) -> Page[Transition]:
            return await client.list_transitions(machine, instance, cursor)

        return await cache.newer_than_cached(fetch)
    except CacheUnavailable:
        return None


async def _server_pages(
    client: StateBackedClient, machine: str, instance: str
) -> AsyncIterator[Sequence[Transition]]:
    """The history's pages from the server; an export that stops closes the walk (and
    the page it asked for ahead), as `client.transitions` does."""
    async with contextlib.aclosing(client.transition_pages(machine, instance)) as walk:
        async for page in walk:
            yield page.items


async def _cached_pages(
    newer: list[Transition], cache: CachedHistory
) -> AsyncIterator[Sequence[Transition]]:
    """`newer`, then the cached rows, newest first, a page of them at a time."""
    if newer:
        yield newer
    below: CacheCursor | None = None
    while True:
        try:
            page = cache.page(PAGE_ROWS, below)
        except CacheUnavailable as error:
            raise StateBackedError(f"the history cache failed while exporting ({error})") from None
        if page is None or not (page.cursor is None or isinstance(page.cursor, CacheCursor)):
            # Dropped or cut short by another dashboard since it was found whole.
            raise StateBackedError(
                "the history cache changed while exporting; export again (or --no-cache)"
            )
        yield page.items
        if page.cursor is None:
            return
        below = page.cursor


async def _reversed(
    pages: AsyncIterator[Sequence[Transition]],
) -> AsyncIterator[Sequence[Transition]]:
    """`pages` and their transitions in the other order, held in a private temporary
    file meanwhile (a line a page; only where each starts is kept in memory)."""
    with tempfile.TemporaryFile("w+b") as spool:
        starts: list[int] = []
        items: Sequence[Transition] = ()
        records: list[dict[str, Any]] = []
        async for items in pages:
            records = (
                items.records
                if isinstance(items, Transitions)
                else [transition.model_dump(by_alias=True) for transition in items]
            )
            starts.append(spool.tell())
            # json's escapes: a lone surrogate (an end user's) is written as JSON has it.
            spool.write(json.dumps(records).encode() + b"\n")
        del items, records  # the last page is in the file too: not held while read back
        end = spool.tell()
        for start in reversed(starts):
            spool.seek(start)
            line = spool.read(end - start)
            end = start
            yield Transitions(json.loads(line)[::-1])  # each read as it was written


async def logs(
    client: StateBackedClient,
    start: str,
    end: str | None,
    machine: str | None,
    instance: str | None,
    version: str | None,
) -> AsyncIterator[LogEntry]:
    """Every log entry from `start` to now (or `end`), oldest first."""
    reader = LogsReader(client, start, end, machine, instance, version)
    while not reader.caught_up:
        for entry in await reader.next_page():
            yield entry


async def export(
    items: AsyncIterator[Transition] | AsyncIterator[LogEntry],
    writer: Writer,
    progress: Callable[[int], None] | None = None,
) -> int:
    count = 0
    async for item in items:
        writer.write(
            history_record(item) if isinstance(item, Transition) else log_record(item)  # type: ignore[arg-type]
        )
        count += 1
        if progress is not None and count % 500 == 0:
            progress(count)
    if progress is not None:
        progress(count)
    return count

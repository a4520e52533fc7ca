"""The logs pane: what machine code printed, for the open instance, its machine or its
version, newest at the bottom, stdout and stderr told apart.

It reads `/logs` forward from the start of a time range (`LogsReader`), page after page
up to a bound, and in follow mode (`f`) asks again every few seconds from where it got
to, adding lines without moving the view when the user has scrolled up. Every log line
was written by somebody else's code: it is shown through `safe`, never as markup.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from smb_tui.api.errors import StateBackedError
from smb_tui.core.text import safe
from smb_tui.tui.palette import tone

if TYPE_CHECKING:  # loaded when first used: the log with the pane, the rest with the client
    from textual.widgets import RichLog

    from smb_tui.api.client import StateBackedClient
    from smb_tui.api.logs import LogsReader
    from smb_tui.api.models import LogEntry

Scope = Literal["instance", "machine", "version"]
SCOPES: tuple[Scope, ...] = ("instance", "machine", "version")
# (label, how far back); None: from the beginning.
RANGES: tuple[tuple[str, timedelta | None], ...] = (
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("24h", timedelta(days=1)),
    ("7d", timedelta(days=7)),
    ("all", None),
)
PAGES_AT_ONCE = 50  # 5,000 lines, then Enter loads more: a huge range never floods us
FOLLOW_SECONDS = 2.0
MAX_LINES = 50_000  # what the pane keeps (and a filter chooses from)
# ...and no more text than this in all, the oldest going first: lines are what machine
# code printed (State Backed sets no limit on one; smb-tui local keeps 64,000
# characters), and 50,000 long ones, followed for an hour, were gigabytes.
MAX_TEXT = 16_000_000
SHOWN_CHARS = 1_000  # of one line in the pane (the rest is said; `smb-tui logs` has it)


@dataclass(frozen=True)
class LogsTarget:
    machine: str
    instance: str | None = None
    version: str | None = None  # the version the open instance runs


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short_time(timestamp: str) -> str:
    """`11-23 14:05:03.123`: month, day and UTC time to the millisecond (the year and
    the microseconds take room a log line needs); what it cannot read, as it is."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return timestamp
    return moment.strftime("%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def log_lines(entry: LogEntry, show_instance: bool) -> list[Text]:
    """One entry as lines: time, stream, maybe the instance, then the text made safe. A
    multi-line entry (a traceback) continues on indented lines."""
    stderr = entry.output_type == "stderr"
    style = tone("error") if stderr else ""
    head = Text(no_wrap=True, end="")
    head.append(safe(short_time(entry.timestamp)), "dim")
    head.append(
        " err " if stderr else " out ", tone("error", "bold") if stderr else tone("accent", "dim")
    )
    if show_instance:
        head.append(safe(entry.instance_name), tone("accent"))
        head.append(" ")
    first, *rest = entry.log.split("\n") or [""]
    head.append(safe(_shown(first)), style)
    return [
        head,
        *(Text("    " + safe(_shown(line)), style, no_wrap=True, end="") for line in rest),
    ]


def _shown(line: str) -> str:
    """A line as the pane shows it: its first SHOWN_CHARS characters, the rest counted
    (the pane draws every character it holds, and held each long line whole)."""
    if len(line) <= SHOWN_CHARS:
        return line
    return f"{line[:SHOWN_CHARS]}… [{len(line) - SHOWN_CHARS:,} more characters]"


class LogsView(Vertical, can_focus=False):
    """Log lines of one instance, machine or version, as far as they are read."""

    DEFAULT_CSS = """
    LogsView { height: 1fr; }
    LogsView > #logs-status { height: 1; padding: 0 1; color: $text-muted; }
    LogsView > #logs-status.-error { color: $text-error; }
    LogsView > RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1; }
    LogsView > #logs-filter { display: none; border: none; height: 1; padding: 0 1; }
    LogsView > #logs-filter.-shown { display: block; }
    """
    BINDINGS = [
        Binding("f", "follow", "Follow", tooltip="Keep reading new lines as they come"),
        Binding("s", "scope", "Scope", tooltip="This instance, its machine, or its version"),
        Binding("t", "range", "Range", tooltip="How far back: 15m, 1h, 6h, 24h, 7d, all"),
        Binding("enter", "more", "More", tooltip="Read further when a range was cut short"),
        Binding("r", "reload", "Reload", show=False, tooltip="Read the logs again"),
        Binding("slash", "filter", "Filter", tooltip="Show only the lines with some text"),
    ]

    following: reactive[bool] = reactive(False)
    scope: reactive[Scope] = reactive("instance")
    range_index: reactive[int] = reactive(1)
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.client: StateBackedClient | None = None
        self.target: LogsTarget | None = None
        self.reader: LogsReader | None = None
        self.lines = 0
        self.error: str | None = None
        self.loading = False
        self.stale_since: float | None = None
        self.server_away_since: float | None = None  # the dashboard lost the server then
        self._generation = 0
        self._polling = False
        self._dirty = False
        self.filter_text = ""
        # The lines read, for a filter to choose from: as many as the log keeps.
        self._entries: deque[LogEntry] = deque(maxlen=MAX_LINES)
        self._entries_text = 0  # characters of `_entries`' lines (at most MAX_TEXT)
        self.shown = 0  # lines the filter lets through

    def compose(self) -> ComposeResult:
        yield Static("Open an instance to read its logs.", id="logs-status")
        yield Input(placeholder="filter the lines (Esc clears)", id="logs-filter")
        # The lines' log comes when the pane is first shown (`lines_log`): Textual's
        # RichLog loads rich.pretty (and attrs, where installed, 10-15 ms), on the way
        # to a first frame that shows the history in this place.

    def on_mount(self) -> None:
        self.set_interval(FOLLOW_SECONDS, self._poll)

    @property
    def lines_log(self) -> RichLog:
        return self._made_log()

    def _made_log(self) -> RichLog:
        """The log the lines are written to, made the first time it is asked for."""
        from textual.widgets import RichLog

        found = self.query("#logs-log")
        if found:
            return found.only_one(RichLog)
        log = RichLog(id="logs-log", wrap=False, markup=False, highlight=False, max_lines=MAX_LINES)
        self.mount(log)
        return log

    def show(self, client: StateBackedClient, target: LogsTarget | None) -> None:
        """Read the logs of `target` (None: nothing open) from the start of the range,
        now if the pane is shown, else when it is (no requests for a hidden pane)."""
        self.client, self.target = client, target
        self._dirty = True
        if self.display:
            self.activate()

    def set_version(self, version: str | None) -> None:
        """The version the open instance runs, once known (for the version scope)."""
        if self.target is not None and self.target.version != version:
            self.target = LogsTarget(self.target.machine, self.target.instance, version)
            if self.scope == "version":
                self.reload()

    def activate(self) -> None:
        """The pane is shown: read what changed while it was hidden."""
        self._made_log()  # to be shown and focused
        if self._dirty:
            self._dirty = False
            self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.workers.cancel_group(self, "logs")
        self.lines_log.clear()
        self._entries.clear()
        self._entries_text = 0
        self.shown = 0
        self.lines, self.error, self.stale_since, self.reader = 0, None, None, None
        self._polling = False
        target = self.target
        if target is None or self.client is None:
            self._status()
            return
        since = RANGES[self.range_index][1]
        start = (
            iso(datetime.fromtimestamp(self.clock(), UTC) - since)
            if since
            else ("1970-01-01T00:00:00.000Z")
        )
        from smb_tui.api.logs import LogsReader

        self.reader = LogsReader(
            self.client,
            start,
            machine=target.machine,
            instance=target.instance if self.scope == "instance" else None,
            version=target.version if self.scope == "version" else None,
        )
        # Said now, not when the worker starts: until then the header named the
        # instance shown before, with its count of lines.
        self.loading = True
        self._status()
        self._read(self.reader, self._generation)

    @work(group="logs", exit_on_error=False)
    async def _read(self, reader: LogsReader, generation: int) -> None:
        """Page after page to the end of what there is (or the bound)."""
        self.loading = True
        self._status()
        try:
            for _ in range(PAGES_AT_ONCE):
                entries = await reader.next_page()
                if generation != self._generation:
                    return
                self._add(entries)
                self._status()
                if reader.caught_up:
                    break
        except StateBackedError as error:
            if generation == self._generation:
                self.error = safe(error)
        finally:
            if generation == self._generation:
                self.loading = False
                self._status()

    def _add(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        log = self.lines_log
        # New lines never move a view the user scrolled up to read.
        at_bottom = log.is_vertical_scroll_end or log.max_scroll_y == 0
        self._keep(entries)
        self._write(entries, scroll_end=at_bottom)
        self.lines += len(entries)

    def _keep(self, entries: list[LogEntry]) -> None:
        """`entries` among those a filter chooses from; the oldest go past MAX_LINES
        or MAX_TEXT characters in all."""
        kept = self._entries
        for entry in entries:
            if len(kept) == MAX_LINES:
                self._entries_text -= len(kept[0].log)  # (the deque lets it go)
            kept.append(entry)
            self._entries_text += len(entry.log)
        while self._entries_text > MAX_TEXT and len(kept) > 1:
            self._entries_text -= len(kept.popleft().log)

    def _write(self, entries: Iterable[LogEntry], scroll_end: bool) -> None:
        log = self.lines_log
        show_instance = self.scope != "instance"
        needle = self.filter_text.lower()
        for entry in entries:
            if needle and needle not in entry.log.lower():
                continue
            self.shown += 1
            for line in log_lines(entry, show_instance):
                log.write(line, scroll_end=scroll_end)

    def action_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.add_class("-shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "logs-filter":
            return
        event.stop()
        self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "logs-filter":
            event.stop()
            self.lines_log.focus()

    def set_filter(self, text: str) -> None:
        """Only the lines holding `text` (any case); the lines read are all kept."""
        self.filter_text = text.strip()
        self.lines_log.clear()
        self.shown = 0
        self._write(self._entries, scroll_end=True)
        self._status()

    def clear_filter(self) -> bool:
        """Esc in the filter: clear it and hide it. True when there was one."""
        box = self.query_one("#logs-filter", Input)
        if not box.has_class("-shown"):
            return False
        box.value = ""
        box.remove_class("-shown")
        self.set_filter("")
        self.lines_log.focus()
        return True

    def _poll(self) -> None:
        reader = self.reader
        if not self.following or reader is None or self.loading or self._polling:
            return
        if not self.display:
            return  # hidden: no requests; shown again, it reads on from where it was
        if not reader.caught_up:
            return  # a range cut short: Enter reads on, following starts after that
        self._polling = True
        self._follow(reader, self._generation)

    @work(group="logs", exit_on_error=False)
    async def _follow(self, reader: LogsReader, generation: int) -> None:
        try:
            entries = await reader.next_page()
        except StateBackedError as error:
            if generation == self._generation:
                self.error = safe(error)
                self.stale_since = self.stale_since or self.clock()
        else:
            if generation == self._generation:
                self.error, self.stale_since = None, None
                self._add(entries)
        finally:
            if generation == self._generation:
                self._polling = False
                self._status()

    def set_stale(self, since: float | None) -> None:
        """The dashboard lost the server at `since` (None: it is back)."""
        if since != self.server_away_since:
            self.server_away_since = since
            if self.is_mounted:
                self._status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.error = safe(f"unexpected: {event.worker.error}")
            self._status()

    def _status(self) -> None:
        status = self.query_one("#logs-status", Static)
        target = self.target
        if target is None:
            status.update("Open an instance to read its logs.")
            status.set_class(False, "-error")
            return
        if self.scope == "instance" and target.instance:
            of = f"{target.machine}/{target.instance}"
        elif self.scope == "version" and target.version:
            of = f"{target.machine} version {target.version[:12]}"
        else:
            of = f"all of {target.machine}"
        parts = [safe(of), f"last {RANGES[self.range_index][0]}"]
        count = f"{self.lines:,} line{'s' if self.lines != 1 else ''}"
        if self.filter_text:
            matches = f"{self.shown:,} match{'es' if self.shown != 1 else ''}"
            count = f"{matches} for {safe(self.filter_text)!r} of {count}"
        reader = self.reader
        if self.loading:
            parts.append(f"reading… {count}")
        elif reader is not None and not reader.caught_up:
            parts.append(f"{count}, more (Enter)")
        else:
            parts.append(count)
        if self.server_away_since is not None and not self.error:
            away = datetime.fromtimestamp(self.server_away_since).strftime("%H:%M:%S")
            parts.append(f"⚠ stale since {away}")
        elif self.error and self.stale_since is not None:
            seen = datetime.fromtimestamp(self.stale_since, UTC).strftime("%H:%M:%S")
            parts.append(f"⚠ stale since {seen} UTC: {self.error}")
        elif self.error:
            parts.append(f"⚠ {self.error} (r retries)")
        elif self.following:
            parts.append("● following")
        else:
            parts.append("f follows")
        status.update(Text("  ·  ".join(parts), no_wrap=True, overflow="ellipsis"))
        status.set_class(self.error is not None, "-error")

    # -- keys ----------------------------------------------------------------------------

    def watch_following(self) -> None:
        if self.is_mounted:
            self._status()
            if self.following:
                self._poll()

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.lines_log.scroll_end(animate=False)

    def action_scope(self) -> None:
        scopes = [s for s in SCOPES if s != "version" or (self.target and self.target.version)]
        self.scope = scopes[(scopes.index(self.scope) + 1) % len(scopes)]
        self.reload()

    def action_range(self) -> None:
        self.range_index = (self.range_index + 1) % len(RANGES)
        self.reload()

    def action_more(self) -> None:
        if self.reader is not None and not self.reader.caught_up and not self.loading:
            self._read(self.reader, self._generation)

    def action_reload(self) -> None:
        self.reload()


__all__ = ["LogsTarget", "LogsView", "log_lines"]

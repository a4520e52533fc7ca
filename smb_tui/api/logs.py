"""Reading `/logs` forward from a time, the one way the API allows: call again with
`from = maxTimestamp`. Used to export logs and to follow them in the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field

from smb_tui.api.client import StateBackedClient
from smb_tui.api.models import LogEntry

LOGS_PAGE = 100  # the most entries /logs answers at once


def _key(entry: LogEntry) -> tuple[str, str, str, str]:
    return (entry.timestamp, entry.machine_name, entry.instance_name, entry.log)


@dataclass
class LogsReader:
    """Where a reading of the logs has got to, and the next page from there.

    A server that includes `from` gives the entries at a page's last time again: those
    already given are left out, so a follower neither repeats nor skips. `caught_up`
    says the last page was not full: there is nothing more, for now.
    """

    client: StateBackedClient
    start: str
    end: str | None = None
    machine: str | None = None
    instance: str | None = None
    version: str | None = None
    caught_up: bool = False
    pages: int = 0
    _given_at_start: set[tuple[str, str, str, str]] = field(default_factory=set)

    async def next_page(self) -> list[LogEntry]:
        page = await self.client.get_logs(
            self.start,
            self.end,
            machine=self.machine,
            instance=self.instance,
            version=self.version,
        )
        self.pages += 1
        fresh = [entry for entry in page.logs if _key(entry) not in self._given_at_start]
        # A full page whose last time is where it began cannot move on: stop, not loop.
        stuck = page.max_timestamp == self.start and len(page.logs) >= LOGS_PAGE
        self.caught_up = len(page.logs) < LOGS_PAGE or stuck
        if page.logs and page.max_timestamp != self.start:
            self._given_at_start = set()
        self._given_at_start |= {
            _key(entry) for entry in page.logs if entry.timestamp == page.max_timestamp
        }
        self.start = page.max_timestamp or self.start
        return fresh


__all__ = ["LOGS_PAGE", "LogsReader"]

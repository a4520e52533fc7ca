"""The transitions of one instance as far as they are loaded: no Textual here.

Rows live in two plain lists (newer ones prepended, older pages appended), so adding a
page or a new transition costs the same at 1,000 rows as at 1,000,000. The buffer
knows which cursor comes next, which were asked for, whether the real start of history
was reached, and what went wrong; the widget draws it and runs the fetches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smb_tui.api.models import Page, Transition
from smb_tui.tui.describe import event_type, parse_time, payload_summary, state_summary
from smb_tui.tui.safe_text import safe

FetchPage = Callable[[str | None], Awaitable[Page[Transition]]]


@dataclass(frozen=True, slots=True, unsafe_hash=False)
class Row:
    """One transition: the few strings a history line needs, already made safe, and the
    event and state as the server sent them (for the detail view and copying)."""

    at: float
    created_at: str
    event_type: str
    payload: str
    state: str
    event: Any
    state_value: Any

    __hash__ = object.__hash__  # rows are the same row, not equal values, for caching

    @classmethod
    def of(cls, transition: Transition) -> Row:
        return cls(
            at=parse_time(transition.created_at),
            created_at=transition.created_at,
            event_type=safe(event_type(transition.event)),
            payload=safe(payload_summary(transition.event, 200)),
            state=safe(state_summary(transition.state)),
            event=transition.event,
            state_value=transition.state,
        )

    def as_json(self) -> dict[str, object]:
        return {"createdAt": self.created_at, "event": self.event, "state": self.state_value}


class HistoryBuffer:
    """What is loaded of one instance's history, in the server's order (newest first)."""

    def __init__(self, fetch: FetchPage | None = None) -> None:
        self.fetch = fetch
        self._newer: list[Row] = []  # newest last: prepending is an append
        self._older: list[Row] = []  # in the server's order
        self.next_cursor: str | None = None
        self.at_end = False
        self.loading = False
        self.error: str | None = None
        self.pages = 0
        self.requested_cursors: list[str | None] = []

    def __len__(self) -> int:
        return len(self._newer) + len(self._older)

    def row(self, index: int) -> Row:
        newer = len(self._newer)
        return self._newer[newer - 1 - index] if index < newer else self._older[index - newer]

    def newest(self, count: int) -> list[Row]:
        return [self.row(i) for i in range(min(count, len(self)))]

    # -- paging --------------------------------------------------------------------------

    def next_request(self) -> str | bool | None:
        """The cursor to fetch next (None: the first page), or False: nothing to ask now."""
        if self.fetch is None or self.loading or self.error or self.at_end:
            return False
        cursor = self.next_cursor if self.pages else None
        if self.pages and cursor is None:
            return False
        if cursor in self.requested_cursors:
            return False
        return cursor

    def started(self, cursor: str | None) -> None:
        self.requested_cursors.append(cursor)
        self.loading, self.error = True, None

    def failed(self, cursor: str | None, error: str) -> None:
        self.loading, self.error = False, error
        self.requested_cursors.remove(cursor)  # retrying asks for it again

    def add_page(self, page: Page[Transition]) -> list[Row]:
        """Append a fetched page: work in proportion to the page, not to the rows held."""
        rows = [Row.of(t) for t in page.items]
        self._older.extend(rows)
        self.pages += 1
        self.next_cursor = page.cursor
        self.at_end = page.cursor is None
        self.loading = False
        return rows

    def retry(self) -> bool:
        if self.error is None:
            return False
        self.error = None
        return True

    # -- news ----------------------------------------------------------------------------

    def add_newest(self, rows: Sequence[Row]) -> None:
        """New transitions at the top, given newest first."""
        self._newer.extend(reversed(rows))

    def new_rows_in(self, first_page: Sequence[Row]) -> list[Row] | None:
        """Given the server's first page again, the rows that are new (newest first).

        Transitions carry no id, so the rows held are found in the page by a run of
        them. None when they are not there (over a page of news): load anew instead.
        """
        top = self.newest(5)
        if not top:
            # Empty so far: all of it is new; still loading the first page: that brings it.
            return list(first_page) if self.at_end else [] if not self.pages else None
        for start in range(len(first_page)):
            window = list(first_page[start : start + len(top)])
            if window == top[: len(window)]:
                return list(first_page[:start])
        return None


__all__ = ["FetchPage", "HistoryBuffer", "Row"]

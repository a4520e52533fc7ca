"""The transitions of one instance as far as they are loaded: no Textual here.

Rows live in two plain lists (newer ones prepended, older pages appended), so adding a
page or a new transition costs the same at 1,000 rows as at 1,000,000. The buffer
knows which cursor comes next, which were asked for, whether the real start of history
was reached, and what went wrong; the widget draws it and runs the fetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from sys import getsizeof
from typing import TYPE_CHECKING, Any, Self, overload

from smb_tui.api.errors import MAX_EMPTY_PAGES, EmptyPages
from smb_tui.core.describe import event_type, payload_summary, state_summary
from smb_tui.core.history_cache import (
    MATCH_ROWS,
    CacheCursor,
    CachedRows,
    CacheUnavailable,
    event_state_json,
    row_data,
)
from smb_tui.core.text import safe

if TYPE_CHECKING:  # the models load with the client, once the dashboard has drawn
    from smb_tui.api.models import Page, Transition
    from smb_tui.core.history_cache import (
        CachedHistory,
        FetchPage,
    )

# While deferred, pages are written this many at a time (or at each redraw, if sooner):
# few transactions, and little text waiting in memory among the rows kept (a redraw's
# worth, a few hundred pages, left their memory scattered: 5 MB over 100,000 rows).
WRITE_PAGES_TOGETHER = 16
# Or as soon as this much text waits: sixteen pages of long events (100 rows of 100 kB of
# CJK text, then written escaped, were 20 MB a page) held 320 MB on their way to the disk.
WRITE_TEXT_TOGETHER = 4_000_000
# Text queued for the cache's writer thread past which a seek waits for it, so that pages
# are fetched no faster than a slow disk takes them: a few pages of the longest events
# (100 events of 400 kB of ASCII are 40,000,000 characters; of CJK text, 13,000,000).
WRITES_WAITING_TEXT = 64_000_000
_SHARED: dict[str, str] = {}
_SHARED_MAX = 65_536  # distinct strings (and kinds) kept; past it, rows keep their own


def _shared(text: str) -> str:
    """One copy of a string many rows hold (short ones only: long payloads rarely repeat)."""
    if len(text) > 200:
        return text
    held = _SHARED.get(text)
    if held is not None:
        return held
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[text] = text
    return text


_STATES: dict[str, Any] = {}  # state values by their key: one object per state, read only


def _key(value: Any) -> str:
    """What tells a JSON value (an event, a state) from every other: its repr, which keeps
    keys in the order sent (the cache finds rows by their JSON), tells `1` from `1.0`,
    `true` and `"1"`, and a string from a dict that reads like one. A third of the cost
    of its JSON, which is only made for a kind not seen before."""
    return repr(value)


def _shared_state(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return _shared(value)
    held = _STATES.get(key)
    if held is not None:
        return held
    if len(_STATES) < _SHARED_MAX and len(key) <= 1000:
        _STATES[key] = value
    return value


@dataclass(frozen=True, slots=True)
class Kind:
    """What a row shares with every row of the same event and state: the few strings a
    history line needs, already made safe, and the event and state as the server sent
    them (for the detail view and copying). Read only: rows hold the same one."""

    event_type: str
    payload: str
    state: str
    event: Any
    state_value: Any
    haystack: str  # what a search looks in: the event type and the whole payload, lower case
    # The event and state as the history cache writes them ("" if it cannot), made once
    # for the many rows of a kind; None for a kind that is one row's own (a long event,
    # rarely repeated): made when its row is written, not held beside the event.
    cached: str | None

    @property
    def own(self) -> bool:
        """One row's own kind (a long event): held whole by its row, shared by none."""
        return self.cached is None


# Kinds by event and state: most rows of a history are one of a few. By the event's key
# and the state's; a state that is a string (most are) keys its own table as it is, with
# no repr made of it (a string can read like a dict's repr: not one table).
_KINDS: dict[tuple[str, str], Kind] = {}
_KINDS_IN_NAMED_STATE: dict[tuple[str, str], Kind] = {}
# The same kinds again, for an event that is `{"type": ...}` alone: by the type.
_TYPE_KINDS: dict[tuple[str, str], Kind] = {}


def _kind(event: Any, state_value: Any, event_key: str | None = None) -> Kind:
    """The kind of a transition of `event` in `state_value` (`event_key`: the event's
    `_key`, when the caller has made it already: for a long event, a pass over all of it)."""
    named, keyed = state_value.__class__ is str, True
    try:
        event_key = _key(event) if event_key is None else event_key
        state_key = state_value if named else _key(state_value)
    except RecursionError:  # nested past what repr walks: a kind of its own
        event_key = state_key = ""
        keyed = False
    # The same event (keys in the order sent) in the same state is one Kind; events with
    # long payloads rarely repeat, and are not looked up (the table stays small).
    kinds = _KINDS_IN_NAMED_STATE if named else _KINDS
    key = (event_key, state_key) if keyed and len(event_key) <= 250 else None
    if key is not None:
        held = kinds.get(key)
        if held is not None:
            return held
    type_only = isinstance(event, dict) and len(event) == 1 and isinstance(event.get("type"), str)
    kind_text = event_type(event)
    if type_only:
        payload = haystack_tail = ""
    else:
        # The payload's JSON made once (for a long event, the most of a row's cost): the
        # line shows its start, as `payload_summary(event, 200)` cuts it.
        haystack_tail = payload_summary(event, 1 << 20)
        payload = safe(_cut(haystack_tail, 200))
    kind = Kind(
        # One copy of each string a history repeats (its event types, states, payloads).
        event_type=_shared(safe(kind_text)),
        payload=_shared(payload),
        state=_shared(safe(state_summary(state_value))),
        event=event,
        state_value=_shared_state(state_value, state_key) if keyed else state_value,
        haystack=_shared(f"{kind_text}\n{haystack_tail}".lower()),
        cached=_cached_form(event, state_value) if key is not None else None,
    )
    if key is not None and len(kinds) < _SHARED_MAX:
        kinds[key] = kind
        if named and type_only:  # `rows_of` finds it by the type, with no repr
            _TYPE_KINDS[(event["type"], state_value)] = kind
    return kind


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cached_form(event: Any, state_value: Any) -> str:
    try:
        return event_state_json(event, state_value)
    except (ValueError, TypeError, RecursionError):
        return ""


def _utc_ms(at: float) -> str:
    """`at` as State Backed writes times: `2026-12-05T07:36:57.054Z`."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class Row(float):
    """One transition: its time, which it is (a float: seconds since the epoch, `at`), and
    its `Kind`. One object of 48 bytes, so that a million rows held are tens of MB (a
    class with the time and the kind as fields took 80 with its float). The time as
    written is made again from `at` for the rows drawn; where it could not be made again
    exactly, the row is a `_WrittenRow`, which keeps it.

    A row is a float only for its size: it compares as a row (`==` on what it says, hash
    by identity), is always true, and nothing adds rows up."""

    __slots__ = ("kind",)
    kind: Kind

    def __new__(cls, at: float, kind: Kind) -> Self:
        row = super().__new__(cls, at)
        row.kind = kind
        return row

    @classmethod
    def of(cls, transition: Transition) -> Row:
        return cls.made(transition.created_at, transition.event, transition.state)

    @classmethod
    def made(cls, written: str, event: Any, state: Any, event_key: str | None = None) -> Row:
        """The row of a transition given as its three fields (`of` reads them)."""
        kind = _kind(event, state, event_key)
        at = _usual_time(written)
        if at is not None:
            return Row(at, kind)
        try:
            moment = datetime.fromisoformat(written.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            return _WrittenRow(0.0, kind, written)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        at = moment.timestamp()
        # Made again exactly: within 2^32 s of 1970 a float's error is under half a
        # microsecond, so `_utc_ms(at)` gives these very characters back.
        remade = (
            abs(at) < 2**32
            and moment.utcoffset() == _ZERO
            and moment.isoformat(timespec="milliseconds")[:-6] + "Z" == written
        )
        return Row(at, kind) if remade else _WrittenRow(at, kind, written)

    @property
    def at(self) -> float:
        return float(self)

    @property
    def created_at(self) -> str:
        return _utc_ms(self)

    def __bool__(self) -> bool:
        return True

    @property
    def event_type(self) -> str:
        return self.kind.event_type

    @property
    def payload(self) -> str:
        return self.kind.payload

    @property
    def state(self) -> str:
        return self.kind.state

    @property
    def event(self) -> Any:
        return self.kind.event

    @property
    def state_value(self) -> Any:
        return self.kind.state_value

    @property
    def haystack(self) -> str:
        return self.kind.haystack

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return (
            float(self) == float(other)
            # The same time as written too: rows made again from `at` keep none, so
            # nothing is formatted to compare them (news is matched row by row).
            and getattr(self, "written", None) == getattr(other, "written", None)
            and (
                self.kind is other.kind
                or (self.event == other.event and self.state_value == other.state_value)
            )
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = object.__hash__  # rows are the same row, not equal values, for caching

    def __repr__(self) -> str:
        return f"Row({self.created_at!r}, {self.event_type!r}, {self.state!r})"

    def as_json(self) -> dict[str, object]:
        return {"createdAt": self.created_at, "event": self.event, "state": self.state_value}

    def transition(self) -> Transition:
        from smb_tui.api.models import Transition

        return Transition.model_construct(
            created_at=self.created_at, event=self.event, state=self.state_value
        )


class _WrittenRow(Row):
    """A row whose time as written is not the one `at` gives back: kept as it came."""

    __slots__ = ("written",)
    written: str

    def __new__(cls, at: float, kind: Kind, written: str) -> Self:
        row = super().__new__(cls, at, kind)
        row.written = written
        return row

    @property
    def created_at(self) -> str:
        return self.written


_ZERO = timedelta(0)
_USUAL = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", re.ASCII)
_MINUTES: dict[str, int] = {}  # `2026-12-05T07:36` -> its first second since the epoch
# The rest of a time in a minute seen, in two parts looked up (no pattern, no int()):
# `:57.` -> 57,000 ms and `054Z` -> 54 ms. Only these very strings are found.
_SECOND_MS = {f":{second:02d}.": second * 1000 for second in range(60)}
_MS = {f"{ms:03d}Z": ms for ms in range(1000)}


def _usual_time(written: str) -> float | None:
    """Seconds since the epoch for a time as State Backed writes them
    (`2026-12-05T07:36:57.054Z`), read without datetime (a third of the cost of a row);
    None for any other form, which `Row.of` reads the long way. The same float as
    `datetime.timestamp()` gives: both divide the same whole number of microseconds.
    A history's rows share their minutes: once one is read, the rest of a time is two
    lookups."""
    minute = _MINUTES.get(written[:16])
    if minute is not None:
        second, millis = _SECOND_MS.get(written[16:20]), _MS.get(written[20:])
        if second is None or millis is None:
            return None
        return (minute * 1000 + second + millis) / 1000
    match = _USUAL.fullmatch(written)
    if match is None:
        return None
    date, hours, minutes, seconds, ms = match.groups()
    try:
        day = int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp())
    except ValueError:  # 2026-02-30
        return None
    h, m, s = int(hours), int(minutes), int(seconds)
    if h > 23 or m > 59 or s > 59 or not -(2**32) < day < 2**32 - 86_400:
        return None
    minute = day + h * 3600 + m * 60
    if len(_MINUTES) < _SHARED_MAX:
        _MINUTES[written[:16]] = minute
    return ((minute + s) * 1000 + int(ms)) / 1000


def rows_of(transitions: Sequence[Transition]) -> list[Row]:
    """`Row.of` each transition of a page. The usual row (its event seen before in a state
    that is a string, its time as State Backed writes it) is made here with no call: its
    kind looked up in place (by the event's type when the event is `{"type": ...}` alone,
    else by its repr), its time from the minute and second looked up once for the rows
    of a page that share them (a page of a busy history is a second or two). A row in
    0.6 us, where it took 1.2 (and 5 before the lookups). A page as the client reads it
    (`Transitions`) is read from its records: no model is made."""
    from smb_tui.api.models import Transitions

    if isinstance(transitions, Transitions):
        fields = map(_RECORD_FIELDS, transitions.records)
    else:
        fields = map(_MODEL_FIELDS, transitions)
    rows: list[Row] = []
    append = rows.append
    kinds, types = _KINDS_IN_NAMED_STATE, _TYPE_KINDS
    minutes, seconds, millis = _MINUTES, _SECOND_MS, _MS
    make = float.__new__
    second_seen, second_ms = "", 0  # the second of the row before, and its ms since 1970
    for written, event, state in fields:
        if state.__class__ is str:
            kind = None
            if event.__class__ is dict and len(event) == 1:
                event_type = event.get("type")
                if event_type.__class__ is str:
                    kind = types.get((event_type, state))
            if kind is None:
                try:
                    event_key = repr(event)
                except RecursionError:
                    append(Row.made(written, event, state))
                    continue
                kind = kinds.get((event_key, state))
                if kind is None:  # its repr made once (a long event's is a pass over it)
                    append(Row.made(written, event, state, event_key))
                    continue
            ms = None if kind is None else millis.get(written[20:])
            if kind is not None and ms is not None:
                second = written[:20]
                if second != second_seen:
                    minute, into = minutes.get(written[:16]), seconds.get(written[16:20])
                    if minute is None or into is None:
                        append(Row.made(written, event, state))  # a minute not seen yet
                        continue
                    second_seen, second_ms = second, minute * 1000 + into
                row = make(Row, (second_ms + ms) / 1000)  # as `_usual_time` makes it
                row.kind = kind
                append(row)
                continue
        append(Row.made(written, event, state))
    return rows


class PageRows(Sequence[Row]):
    """A page's rows, each made when first looked at, from the first on (finding news in
    the first page fetched again needs the few new rows and the run after them, not a
    hundred rows of long events made each time). Made, they are what `rows_of` makes."""

    __slots__ = ("_items", "_records", "_rows")

    def __init__(self, transitions: Sequence[Transition]) -> None:
        from smb_tui.api.models import Transitions

        self._records = isinstance(transitions, Transitions)
        self._items: Sequence[Any] = (
            transitions.records if isinstance(transitions, Transitions) else list(transitions)
        )
        self._rows: list[Row] = []

    @property
    def made(self) -> int:
        """How many rows were made so far."""
        return len(self._rows)

    def _make(self, end: int) -> None:
        if end > len(self._rows):
            from smb_tui.api.models import Transitions

            more = self._items[len(self._rows) : end]
            self._rows.extend(rows_of(Transitions(list(more)) if self._records else more))

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Row]:
        self._make(len(self))
        return iter(self._rows)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            self._make(index.indices(len(self))[1])
            return self._rows[index]
        at = index + len(self) if index < 0 else index
        if not 0 <= at < len(self):
            raise IndexError(index)
        self._make(at + 1)
        return self._rows[at]


# A transition's time as written, event and state: from a record, from a model.
_RECORD_FIELDS = itemgetter("createdAt", "event", "state")
_MODEL_FIELDS = attrgetter("created_at", "event", "state")


def created_ats(transitions: Sequence[Transition]) -> list[str]:
    """Each transition's time as written (from the records of a page read by the client)."""
    from smb_tui.api.models import Transitions

    if isinstance(transitions, Transitions):
        return [record["createdAt"] for record in transitions.records]
    return [transition.created_at for transition in transitions]


def own_text(rows: Sequence[Row]) -> int:
    """The bytes of text `rows` hold of their own, as Python holds it (1, 2 or 4 bytes a
    character: counted in characters, three times as many rows of CJK text were held as
    of ASCII): a long event's row holds its event and its search text whole (about twice
    this); rows of a shared kind, nothing of it."""
    return sum(getsizeof(row.kind.haystack) for row in rows if row.kind.own)


def events_by_type(rows: Sequence[Row]) -> dict[str, Any]:
    """The event types of `rows` (newest first), each with the newest of its events as
    the server sent it: the composer's suggestions, and an example payload for each."""
    kinds = [row.kind for row in rows]
    newest = {kind.event_type: kind.event for kind in reversed(kinds)}  # the newest last
    order = dict.fromkeys(kind.event_type for kind in kinds)  # as they come, newest first
    return {event_type: newest[event_type] for event_type in order}


class AskedCursors(Sequence[str | None]):
    """The cursors asked for, in the order asked, and a set of them: whether one was
    asked is looked up for every page, and a list's `in` took as long as the pages held
    (10,000 of them in a million rows)."""

    __slots__ = ("_asked", "_order")

    def __init__(self) -> None:
        self._order: list[str | None] = []
        self._asked: set[str | None] = set()

    def __contains__(self, cursor: object) -> bool:
        return cursor in self._asked

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> str | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...
    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        return self._order[index]

    def __eq__(self, other: object) -> bool:
        return self._order == (list(other) if isinstance(other, AskedCursors) else other)

    __hash__ = None  # type: ignore[assignment]  # changes, as a list does

    def __repr__(self) -> str:
        return repr(self._order)

    def append(self, cursor: str | None) -> None:
        self._order.append(cursor)
        self._asked.add(cursor)

    def remove(self, cursor: str | None) -> None:
        self._order.remove(cursor)
        if cursor not in self._order:
            self._asked.discard(cursor)

    def clear(self) -> None:
        self._order.clear()
        self._asked.clear()


class HistoryBuffer:
    """What is loaded of one instance's history, in the server's order (newest first)."""

    def __init__(self, fetch: FetchPage | None = None, cache: CachedHistory | None = None) -> None:
        self.fetch = fetch
        self.cache = cache  # where fetched pages are kept on disk, if anywhere
        self.had_cache = cache is not None  # (the cache may fail and be gone since)
        self._newer: list[Row] = []  # newest last: prepending is an append
        self._older: list[Row] = []  # in the server's order
        self.next_cursor: str | None = None
        self.at_end = False
        self.loading = False
        self.error: str | None = None
        self.pages = 0
        self.empty_pages = 0  # in a row: a server that sends only these is not followed
        self.requested_cursors = AskedCursors()
        # A filter on event types shows only the rows that match: their positions in
        # the two lists, kept up to date as rows arrive (work per page, not per row held).
        self.filter_text = ""
        self.search_text = ""
        self._newer_hits: list[int] = []
        self._older_hits: list[int] = []
        # The kinds of the rows that match, by id (at least those; None: not yet known).
        # Rows share a few kinds: typing on looks at each kind once, and at the rows only
        # when a kind stops matching.
        self._hit_kinds: dict[int, Kind] | None = None
        # While the view is far below the top, news goes to the cache and is counted,
        # not held: the newest rows known (for finding news in a page) and how many.
        self._top_seen: list[Row] | None = None
        self.newer_not_held = 0
        # Rows seen above those held, let go while far below them (`drop_newest`).
        self.dropped_above = 0
        self.own_held = 0  # bytes of text the rows held hold of their own (`own_text`)
        # Without a cache: the server's cursor of the rows below each row where one of its
        # pages ended, so that rows below the window can be dropped and fetched again.
        self._server_cursor_below: dict[Row, str] = {}
        self._deferring = False
        self._unwritten: list[tuple[CachedRows, str | None, str | None]] = []
        self._unwritten_text = 0  # characters in `_unwritten`
        self._writes: list[tuple[Future[None], int]] = []  # on the writer thread, with their text
        self.writing_text = 0  # characters of text those hold
        # Told why, once, as soon as the cache fails (the history goes on without it).
        self.cache_failed: Callable[[str], None] = lambda why: None

    @property
    def loaded(self) -> int:
        """Every row fetched, whatever the filter."""
        return len(self._newer) + len(self._older)

    @property
    def reached(self) -> int:
        """Every row fetched down to the oldest held, counting those let go above."""
        return self.dropped_above + self.loaded

    def __len__(self) -> int:
        """The rows shown: all of them, or those the filter lets through."""
        if not self.filter_text:
            return self.loaded
        return len(self._newer_hits) + len(self._older_hits)

    def row(self, index: int) -> Row:
        if self.filter_text:
            hits = len(self._newer_hits)
            if index < hits:
                return self._newer[self._newer_hits[hits - 1 - index]]
            return self._older[self._older_hits[index - hits]]
        newer = len(self._newer)
        return self._newer[newer - 1 - index] if index < newer else self._older[index - newer]

    def before(self, index: int) -> Row | None:
        """The transition just older than the one shown at `index`, whatever the filter:
        the state it left. None when that row is not loaded (or there is none)."""
        if self.filter_text:
            hits = len(self._newer_hits)
            if index < hits:
                position = self._newer_hits[hits - 1 - index]  # _newer is oldest first
                if position > 0:
                    return self._newer[position - 1]
                return self._older[0] if self._older else None
            position = self._older_hits[index - hits] + 1
            return self._older[position] if position < len(self._older) else None
        following = index + 1
        return self.row(following) if following < self.loaded else None

    def _matches(self, row: Row, text: str | None = None) -> bool:
        return (text or self.filter_text).lower() in row.haystack

    def set_filter(self, text: str) -> None:
        """Show only the rows whose event type or payload contains `text` (any case); ""
        shows all. The last text searched stays `search_text`, for n and N."""
        narrowing = bool(self.filter_text) and self.filter_text.lower() in text.lower()
        self.filter_text = text
        if text:
            self.search_text = text
        needle = text.lower()
        newer, older = self._newer, self._older
        if not text:
            self._newer_hits, self._older_hits, self._hit_kinds = [], [], None
            return
        if not narrowing:
            self._hit_kinds = None
            # One pass over the rows, as a plain scan makes it (no call per row).
            self._newer_hits = [i for i, row in enumerate(newer) if needle in row.kind.haystack]
            self._older_hits = [i for i, row in enumerate(older) if needle in row.kind.haystack]
            return
        # Typing on: what matches now matched before, so only the kinds of those rows are
        # looked at (found once, on the first letter typed on), and the rows themselves
        # only when some kind no longer matches.
        if self._hit_kinds is None:
            self._hit_kinds = {}
            self._note_kinds(newer[i] for i in self._newer_hits)
            self._note_kinds(older[i] for i in self._older_hits)
        kinds = self._hit_kinds
        kept = {key: kind for key, kind in kinds.items() if needle in kind.haystack}
        if len(kept) < len(kinds):
            self._hit_kinds = kept
            self._newer_hits = [i for i in self._newer_hits if id(newer[i].kind) in kept]
            self._older_hits = [i for i in self._older_hits if id(older[i].kind) in kept]

    def _note_kinds(self, rows: Iterable[Row]) -> None:
        """Rows that match: their kinds among those of the hits (if those are known)."""
        if self._hit_kinds is not None:
            self._hit_kinds.update({id(row.kind): row.kind for row in rows})

    def unfiltered_index(self, index: int) -> int:
        """Where the row shown at `index` under the filter is in the whole history."""
        if not self.filter_text:
            return index
        hits, newer = len(self._newer_hits), len(self._newer)
        if index < hits:
            return newer - 1 - self._newer_hits[hits - 1 - index]
        if index - hits < len(self._older_hits):
            return newer + self._older_hits[index - hits]
        return self.loaded

    def next_match(self, index: int, step: int) -> int | None:
        """The nearest row after `index` (step 1: older; -1: newer) that the last search
        matches, among the rows loaded; None when there is none."""
        if not self.search_text:
            return None
        at = index + step
        while 0 <= at < len(self):
            if self._matches(self.row(at), self.search_text):
                return at
            at += step
        return None

    @property
    def behind(self) -> bool:
        """The newest rows are in the cache, not here (`newer_not_held` of them)."""
        return self._top_seen is not None

    def hold_no_newer(self) -> bool:
        """From now on keep news in the cache only, or without one nowhere (it is counted,
        and read again from the top when wanted); False, and nothing changes, under a
        filter or a cache that failed: the rows held stay what the view is among."""
        failed = self.had_cache and self.cache is None
        if failed or self.filter_text or self._top_seen is not None:
            return False
        self._top_seen = self.newest(MATCH_ROWS)
        return True

    def newest_known(self, count: int) -> list[Row]:
        """The newest rows seen, held or not."""
        if self._top_seen is not None:
            return self._top_seen[:count]
        return self.newest(count)

    def newest(self, count: int) -> list[Row]:
        """The newest rows held, whatever the filter."""
        # Slices from the ends: no copy of every row held on each refresh.
        newer = self._newer[: -count - 1 : -1] if count else []
        return newer + self._older[: max(0, count - len(newer))]

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

    def _keep(self, write: Callable[[CachedHistory], None], text: int = 0) -> None:
        """Write to the cache, on its writer thread (in the order asked); if it fails,
        the cache is turned off and `cache_failed` told why, on the loop at once. `text`:
        the characters the write holds until it is done (`writes_caught_up`)."""
        history = self.cache
        if history is None:
            return
        self.collect_writes()
        written = history.cache.write_behind(lambda: write(history))
        self._writes.append((written, text))
        self.writing_text += text
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop (a script): said at the next collect
            return

        def done(written: Future[None]) -> None:  # on the writer thread
            if written.exception() is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._write_failed)

        written.add_done_callback(done)

    def _write_failed(self) -> None:
        """On the loop, as soon as a write failed: said now, not at the next page."""
        self.collect_writes()

    def collect_writes(self) -> None:
        """Take in the cache writes done since: the first that failed turns it off."""
        while self._writes and self._writes[0][0].done():
            written, text = self._writes.pop(0)
            self.writing_text -= text
            error = written.exception()
            if isinstance(error, CacheUnavailable):
                self._writes.clear()
                self.writing_text = 0
                self.cache_off(str(error))
            elif error is not None:
                raise error  # a bug, not the disk: as loud as it was on this thread

    def cache_off(self, why: str) -> None:
        """Go on without the cache, and say why (once: it is gone after)."""
        if self.cache is not None:
            self.cache, self._unwritten, self._unwritten_text = None, [], 0
            self.cache_failed(why)

    def defer_cache_writes(self) -> None:
        """Until `write_cache`, pages fetched are kept for the cache and written together
        (a seek to the start writes a few times a second, not once a page)."""
        self._deferring = True

    def write_cache(self, stop_deferring: bool = False) -> None:
        pages, text = self._unwritten, self._unwritten_text
        self._unwritten, self._unwritten_text = [], 0
        if stop_deferring:
            self._deferring = False
        if pages:
            self._keep(lambda cache: cache.add_older_pages(pages), text)

    async def writes_caught_up(self, limit: int) -> None:
        """Wait until the writes queued hold at most `limit` characters of text (a seek
        fetches no faster than the cache takes what it fetched)."""
        while self.writing_text > limit and self._writes:
            # Shielded: a seek stopped meanwhile must not cancel the write it waited on.
            with contextlib.suppress(Exception):  # a failure is taken in below, as always
                await asyncio.shield(asyncio.wrap_future(self._writes[0][0]))
            self.collect_writes()

    def add_page(self, page: Page[Transition], from_cache: bool = False) -> list[Row]:
        """Append a fetched page: work in proportion to the page, not to the rows held."""
        rows = rows_of(page.items)
        if not from_cache and self.cache is not None:
            # Each row as the cache keeps it: its time, then its kind's event and state,
            # made once for all the rows of that kind (now, for a kind of one row).
            forms = [
                _cached_form(row.kind.event, row.kind.state_value)
                if row.kind.cached is None  # (row.kind.own, said so that mypy narrows it)
                else row.kind.cached
                for row in rows
            ]
            if all(forms):
                fetched_with = self.next_cursor if self.pages else None
                cached = CachedRows.of(
                    [
                        row_data(written, form)
                        for written, form in zip(created_ats(page.items), forms, strict=True)
                    ]
                )
                self._unwritten.append((cached, page.cursor, fetched_with))
                self._unwritten_text += len(cached.text)
                if (
                    not self._deferring
                    or len(self._unwritten) >= WRITE_PAGES_TOGETHER
                    or self._unwritten_text >= WRITE_TEXT_TOGETHER
                ):
                    self.write_cache()
            else:  # nested past what JSON encodes here: shown, never cached
                self.cache_off("a transition is nested too deeply to cache; going on without")
        if self.cache is None and rows and isinstance(page.cursor, str):
            self._server_cursor_below[rows[-1]] = page.cursor
        if self.filter_text:
            start, hits = len(self._older), len(self._older_hits)
            self._older_hits.extend(start + i for i, row in enumerate(rows) if self._matches(row))
            self._note_kinds(rows[i - start] for i in self._older_hits[hits:])
        self._older.extend(rows)
        self.own_held += own_text(rows)
        self.pages += 1
        self.next_cursor = page.cursor
        self.at_end = page.cursor is None
        self.loading = False
        self.empty_pages = 0 if rows else self.empty_pages + 1
        if self.empty_pages > MAX_EMPTY_PAGES and not self.at_end:
            self.error = EmptyPages().message
        return rows

    def first_page_again(self, page_rows: int, cursor: str | None) -> None:
        """The server's first page, fetched again for news, was `page_rows` rows and its
        cursor `cursor`: that cursor reads on below the row now held that far down."""
        held = 0 < page_rows <= self.loaded and self._top_seen is None
        if held and self.cache is None and isinstance(cursor, str):
            self._server_cursor_below[self._unfiltered(page_rows - 1)] = cursor

    def _unfiltered(self, index: int) -> Row:
        newer = len(self._newer)
        return self._newer[newer - 1 - index] if index < newer else self._older[index - newer]

    def trim(self, keep: int) -> bool:
        """Hold only about the newest `keep` rows: the rows below come back if the view
        goes down to them, from the cache a page at a time (a CacheCursor), or without
        one from the server, from where one of its pages ended at or below row `keep`.
        So what is held follows what is looked at, not how many updates arrived. False
        (nothing dropped) under a filter, while a page loads, or when the cache does not
        hold the rows where they are here (or, without one, no page ended near)."""
        if self.filter_text or self.loading or self.error or self.loaded <= keep:
            return False
        if self.cache is None:
            return self._trim_at_page_end(keep)
        # Found in the cache under the newest row seen (held, or not while behind).
        top, last = self.newest_known(1)[0], self.row(keep - 1)
        depth = self.newer_not_held + self.dropped_above + keep - 1
        try:
            self.cache.cache.flush()  # the rows just queued are looked for too (a few)
            cursor = self.cache.cursor_below(top.transition(), last.transition(), depth)
        except CacheUnavailable as error:
            self.cache_off(str(error))
            return False
        if cursor is None:
            return False
        self._drop_below(keep, cursor)
        return True

    PAGE_END_SEARCH = 1_000  # rows looked at below `keep` for where a server page ended

    def _trim_at_page_end(self, keep: int) -> bool:
        below = self._server_cursor_below
        for index in range(keep - 1, min(self.loaded - 1, keep - 1 + self.PAGE_END_SEARCH)):
            cursor = below.get(self._unfiltered(index))
            if cursor is not None:
                self._drop_below(index + 1, cursor)
                held = {*self._newer, *self._older}
                self._server_cursor_below = {r: c for r, c in below.items() if r in held}
                return True
        return False

    def _drop_below(self, keep: int, cursor: str) -> None:
        """Hold the newest `keep` rows; `cursor` reads on below them."""
        newer = len(self._newer)
        if keep <= newer:
            self.own_held -= own_text(self._newer[: newer - keep]) + own_text(self._older)
            del self._newer[: newer - keep]  # oldest first: the oldest go
            self._older.clear()
        else:
            self.own_held -= own_text(self._older[keep - newer :])
            del self._older[keep - newer :]
        self.next_cursor, self.at_end = cursor, False
        self.requested_cursors.clear()

    def drop_newest(self, count: int) -> None:
        """Let go of the newest `count` rows held (far below them, in a history of long
        events: each row holds its event whole). As with news while behind, they are in
        the cache, or without one on the server, and the top is read again when wanted."""
        if self.filter_text or not 0 < count < self.loaded:
            return
        if self._top_seen is None:
            self._top_seen = self.newest(MATCH_ROWS)
        newer = len(self._newer)
        gone = (
            self._newer[newer - count :]
            if count <= newer
            else [*self._newer, *self._older[: count - newer]]
        )
        if count <= newer:
            del self._newer[newer - count :]
        else:
            self._newer.clear()
            del self._older[: count - newer]
        self.own_held -= own_text(gone)
        self.dropped_above += count
        if self._server_cursor_below:
            for row in gone:
                self._server_cursor_below.pop(row, None)

    def bring_back_above(self, count: int) -> int:
        """Read back from the cache up to `count` of the rows let go above those held
        (`drop_newest`), the nearest ones; how many came back. 0 when none can (no cache,
        or it no longer holds them where they were): the top is to be read again."""
        history = self.cache
        count = min(count, self.dropped_above)
        if history is None or count <= 0 or self.filter_text or not self.loaded:
            return 0
        top, held_top = self.newest_known(1)[0], self.newest(1)[0]
        try:
            history.cache.flush()
            at = history.cursor_below(
                top.transition(), held_top.transition(), self.newer_not_held + self.dropped_above
            )
            # The `count` rows just above the row held at the top: seqs at+count .. at+1,
            # all of them (a few screens), however long: none may be left out between.
            page = (
                None
                if at is None
                else history.page(count, CacheCursor(at.history_id, at.seq + count + 1), 2**62)
            )
        except CacheUnavailable as error:
            self.cache_off(str(error))
            return 0
        if page is None or len(page.items) != count:
            return 0
        rows = rows_of(page.items)
        self._newer.extend(reversed(rows))
        self.own_held += own_text(rows)
        self.dropped_above -= count
        if not self.dropped_above and not self.newer_not_held:
            self._top_seen = None  # all held again, to the top: news is held again
        return count

    def retry(self) -> bool:
        if self.error is None:
            return False
        self.error = None
        return True

    # -- news ----------------------------------------------------------------------------

    def add_newest(self, rows: Sequence[Row]) -> None:
        """New transitions at the top, given newest first (behind: into the cache only)."""
        held = self.newest_known(1)
        above = held[0].transition() if held else None
        transitions = [row.transition() for row in rows]
        self._keep(lambda cache: cache.add_newer(transitions, above))
        if self._top_seen is not None:
            self._top_seen = [*rows, *self._top_seen][:MATCH_ROWS]
            self.newer_not_held += len(rows)
            return
        start, hits = len(self._newer), len(self._newer_hits)
        self._newer.extend(reversed(rows))
        self.own_held += own_text(rows)
        if self.filter_text:
            newer = self._newer
            self._newer_hits.extend(i for i in range(start, len(newer)) if self._matches(newer[i]))
            self._note_kinds(newer[i] for i in self._newer_hits[hits:])

    def new_rows_in(self, first_page: Sequence[Row]) -> list[Row] | None:
        """Given the server's first page again, the rows that are new (newest first).

        Transitions carry no id, so the rows held are found in the page by a run of
        them. None when they are not there (over a page of news): load anew instead.
        """
        top = self.newest_known(MATCH_ROWS)
        if not top:
            # Empty so far: all of it is new; still loading the first page: that brings it.
            return list(first_page) if self.at_end else [] if not self.pages else None
        for start in range(len(first_page)):
            window = list(first_page[start : start + len(top)])
            if window == top[: len(window)]:
                return list(first_page[:start])
        return None


__all__ = ["HistoryBuffer", "Kind", "PageRows", "Row", "own_text"]

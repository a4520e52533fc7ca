"""Plain functions that turn API values into short text for the screen. No Textual here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len

if TYPE_CHECKING:
    from smb_tui.api.models import StateValue


def version_label(info: object) -> str:
    """A version as people name it: its client info (`v2`), else the start of its id."""
    client_info = getattr(info, "client_info", None)
    if isinstance(client_info, str) and client_info:
        return client_info
    version_id = getattr(info, "id", None)
    return str(version_id)[:10] if version_id else "no version"


def active_leaves(value: StateValue) -> list[str]:
    """The active leaf states as dotted paths: {"a": {"b": "c"}} -> ["a.b.c"]."""
    if isinstance(value, str):
        return [value]
    leaves: list[str] = []
    for key, child in value.items():
        if isinstance(child, dict) and not child:
            leaves.append(key)
        else:
            leaves.extend(f"{key}.{leaf}" for leaf in active_leaves(child))
    return leaves


def state_summary(value: StateValue) -> str:
    """One line: "a.b" for nested states, "a.{b.x, c.y}" for parallel ones."""
    if isinstance(value, str):
        return value
    parts = []
    for key, child in value.items():
        if isinstance(child, dict) and len(child) > 1:
            inner = ", ".join(state_summary({k: v}) for k, v in child.items())
            parts.append(f"{key}.{{{inner}}}")
        elif isinstance(child, dict) and not child:
            parts.append(key)
        else:
            parts.append(f"{key}.{state_summary(child)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class StateChange:
    """What one transition did to the state value: the leaves it left and entered."""

    left: tuple[str, ...]
    entered: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.left or self.entered)

    def summary(self, width: int | None = None) -> str:
        """`yellow → red`; under a shared parent `payment: unpaid → paid`; for parallel
        regions `shopping: +checkout.payment.unpaid -browsing` (what was entered first);
        "no change" when none. Given a `width`, the first of ever shorter forms that fits
        it: without the parent, then what was entered only (`→ paid`)."""
        if not self.changed:
            return "no change"
        paths = [leaf.split(".") for leaf in (*self.left, *self.entered)]
        shared = 0
        while all(len(path) > shared + 1 for path in paths) and (
            len({path[shared] for path in paths}) == 1
        ):
            shared += 1
        where = f"{paths[0][shared - 1]}: " if shared else ""
        left = [".".join(leaf.split(".")[shared:]) for leaf in self.left]
        entered = [".".join(leaf.split(".")[shared:]) for leaf in self.entered]
        if len(left) == 1 and len(entered) == 1:
            change = f"{left[0]} → {entered[0]}"
        else:
            change = " ".join([*(f"+{leaf}" for leaf in entered), *(f"-{leaf}" for leaf in left)])
        forms = [where + change, change]
        if entered:
            forms.append("→ " + " ".join(entered))
        if width is None:
            return forms[0]
        return next((form for form in forms if cell_len(form) <= width), forms[-1])


def state_change(before: StateValue, after: StateValue) -> StateChange:
    old, new = active_leaves(before), active_leaves(after)
    return StateChange(
        tuple(leaf for leaf in old if leaf not in new),
        tuple(leaf for leaf in new if leaf not in old),
    )


_XSTATE_AFTER = re.compile(r"xstate\.after\((\d+)\)#[^.]*\.(.+)")


def short_event(kind: str) -> str:
    """An event type for a narrow column: XState's `xstate.after(8000)#light.green`
    reads `after 8s green`; any other type as it is."""
    match = _XSTATE_AFTER.fullmatch(kind)
    if match is None:
        return kind
    milliseconds = int(match[1])
    seconds = milliseconds / 1000
    delay = f"{milliseconds}ms" if milliseconds < 1000 else f"{seconds:g}s"
    return f"after {delay} {match[2]}"


def event_type(event: Any) -> str:
    if isinstance(event, str):
        return event
    if isinstance(event, dict):
        return str(event.get("type", "?"))
    return "?"


def event_payload(event: Any) -> dict[str, Any]:
    """The event's payload: everything but its `type` ({} for an event sent as a name)."""
    return {k: v for k, v in event.items() if k != "type"} if isinstance(event, dict) else {}


def payload_summary(event: Any, limit: int = 80) -> str:
    """The event's payload (everything but `type`) as compact JSON, cut to `limit`."""
    payload = event_payload(event)
    if not payload:
        return ""
    return short_json(payload, limit)


_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w|week)s?(?:\s+ago)?")
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}


def parse_when(text: str, now: float) -> float:
    """A moment people type: `2026-11-20 14:05` (UTC unless it names an offset),
    `2026-11-20T14:05:00+01:00`, `3h ago`, `90m`, `2d`, `now`. ValueError says why not."""
    value = text.strip().lower()
    if value == "now":
        return now
    if match := _AGO.fullmatch(value):
        return now - float(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text.strip()!r} is not a time: try 2026-11-20 14:05 (UTC), 3h ago, 90m"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def clock_time(seconds: float, local: bool = False) -> str:
    """`11-23 14:05:03` in UTC (or local time), for a time column."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return (moment.astimezone() if local else moment).strftime("%m-%d %H:%M:%S")


def parse_time(value: str) -> float:
    """Seconds since the epoch for an ISO-8601 time; 0 when it cannot be read."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def relative_time(seconds_ago: float) -> str:
    seconds = max(0, int(seconds_ago))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 86400 * 365:
        return f"{seconds // 86400}d ago"
    return f"{seconds // (86400 * 365)}y ago"


TOO_DEEP = "(nested too deep to show)"


def pretty_json(value: Any) -> str:
    """`value` as indented JSON; a value nested past what Python encodes (an end user's
    event can be, a few levels short of what the client parses) says so instead."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except RecursionError:
        return TOO_DEEP


@dataclass(frozen=True)
class Change:
    key: str
    kind: str  # "added", "removed" or "changed"
    before: Any = None
    after: Any = None

    def label(self) -> str:
        """`+key=value`, `-key` or `~key: before → after`, the values cut short."""
        if self.kind == "added":
            return f"+{self.key}={short_json(self.after)}"
        if self.kind == "removed":
            return f"-{self.key}"
        return f"~{self.key}: {short_json(self.before)} → {short_json(self.after)}"


def context_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """The top-level context keys that an event added, removed or changed."""
    changes = [Change(k, "removed", before[k], None) for k in before if k not in after]
    for key, value in after.items():
        if key not in before:
            changes.append(Change(key, "added", None, value))
        elif before[key] != value:
            changes.append(Change(key, "changed", before[key], value))
    return changes


def short_json(value: Any, limit: int = 40) -> str:
    """`value` as compact JSON cut to `limit` (or TOO_DEEP, as `pretty_json` says)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return TOO_DEEP
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_object(text: str, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the object, None), or (None, a message saying where the JSON is wrong)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"{what}: line {error.lineno}, column {error.colno}: {error.msg}"
    if not isinstance(value, dict):
        return None, f'{what} must be a JSON object, like {{"key": 1}}'
    return value, None

"""Replay a recorded history against machine code: an upgrade's dry run, and a regression
test a project's CI can run against real histories.

The recorded events are applied in order, from the instance's creation, to the code on the
local engine, and the recorded state is compared with the replayed one after every event.
Replay is deterministic, as Temporal's replayer is: the code's invoked services, spawned
actors and timers do not run; what they did is in the history already (`done.invoke.*`,
`error.platform.*`, `xstate.after(...)` events) and is applied from there. What the code
raises itself within a run (a send to itself, an `always` step) it raises again, and the
replay checks it against the rows that follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smb_tui.local.definitions import JSON, MachineVersion, Snapshot
from smb_tui.local.engines.seam import MachineError, Step

INIT = "xstate.init"
SETTLE_SECONDS = 10.0  # nothing settles in a replay (no service runs); a run's upper bound


class ReplayError(Exception):
    """The history cannot be replayed (say why)."""


@dataclass(frozen=True)
class Recorded:
    """One row of a history, oldest first: the event and the state it led to."""

    created_at: str
    event: dict[str, JSON]
    state: JSON


@dataclass(frozen=True)
class Divergence:
    """Where the replay and the history part: row `number` (0: the creation)."""

    number: int
    created_at: str
    event: dict[str, JSON]
    recorded: JSON
    replayed: JSON
    reason: str


@dataclass
class Report:
    rows: int = 0  # history rows compared
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.divergences


def event_type(event: Any) -> str:
    return str(event.get("type")) if isinstance(event, dict) else str(event)


def recorded_rows(rows: Sequence[Recorded]) -> list[Recorded]:
    """A history oldest first, whichever order it was written in: it starts with the
    instance's creation (`xstate.init`), which only the oldest row is."""
    if rows and event_type(rows[-1].event) == INIT and event_type(rows[0].event) != INIT:
        return list(reversed(rows))
    return list(rows)


async def replay(
    engine: Any,  # an XStateEngine: start/apply with `replay`, and view
    version: MachineVersion,
    machine: str,
    history: Sequence[Recorded],
    context: dict[str, JSON],
) -> Report:
    """`history` (oldest first) replayed on `version` from `context`; every divergence."""
    rows = recorded_rows(history)
    if not rows or event_type(rows[0].event) != INIT:
        raise ReplayError(
            "the history does not start with the instance's creation (xstate.init):"
            " a replay needs all of it"
        )
    report = Report(rows=len(rows))
    try:
        outcome = await engine.start(version, context, SETTLE_SECONDS, machine, replay=True)
    except MachineError as error:
        raise ReplayError(f"the code failed to create the instance: {error}") from error
    at = 0
    steps: list[Step] = outcome.steps
    snapshot: Snapshot = outcome.final
    while True:
        # The steps this run took, against the rows they should match.
        for step in steps:
            replayed = engine.view(version, step.snapshot).value
            if at >= len(rows):
                report.divergences.append(
                    Divergence(
                        len(rows),
                        "",
                        step.event,
                        None,
                        replayed,
                        "the code took a step the history does not have"
                        f" ({event_type(step.event)})",
                    )
                )
                continue
            row = rows[at]
            if event_type(step.event) != event_type(row.event):
                report.divergences.append(
                    Divergence(
                        at,
                        row.created_at,
                        row.event,
                        row.state,
                        replayed,
                        f"the code raised {event_type(step.event)} where the history has"
                        f" {event_type(row.event)}",
                    )
                )
                continue  # the row is still to come: it is applied next
            if replayed != row.state:
                report.divergences.append(
                    Divergence(
                        at, row.created_at, row.event, row.state, replayed, "a different state"
                    )
                )
            at += 1
        if at >= len(rows):
            return report
        row = rows[at]
        try:
            outcome = await engine.apply(
                version, snapshot, [row.event], SETTLE_SECONDS, machine, replay=True
            )
        except MachineError as error:
            reason = f"the code failed on this event: {error}"
            report.divergences.append(
                Divergence(at, row.created_at, row.event, row.state, None, reason)
            )
            at += 1
            steps = []
            continue
        steps = outcome.steps
        if not steps:
            reason = "the code took no step on this event (the instance is done)"
            report.divergences.append(
                Divergence(at, row.created_at, row.event, row.state, None, reason)
            )
            at += 1
            continue
        snapshot = outcome.final


def report_json(report: Report) -> dict[str, JSON]:
    """A report as JSON (what `smb-tui replay --json` prints and the local route answers)."""
    return {
        "rows": report.rows,
        "agrees": report.agrees,
        "divergences": [
            {
                "number": d.number,
                "createdAt": d.created_at,
                "event": d.event,
                "recorded": d.recorded,
                "replayed": d.replayed,
                "reason": d.reason,
            }
            for d in report.divergences
        ],
    }

"""The python-statemachine engine: machines written as `StateChart`s in Python.

The statechart algorithm is python-statemachine's; this module records each step as a
transition, names delayed transitions and invoked services' events as XState does, and
routes what machine code prints into the instance's logs.

Why one module of ~650 lines: it is the engine for one library, whole. The recorder,
the XState-style names of delayed and invoked events and the capture of prints all work
on python-statemachine's objects at once; apart, each would be a piece of its algorithm.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, TextIO

from statemachine import State, StateChart
from statemachine.event import Event
from statemachine.invoke import Invocation, InvokeManager
from statemachine.orderedset import OrderedSet

from smb_tui.local.definitions import JSON, AuthRequest, IndexSelector, MachineVersion, Snapshot
from smb_tui.local.engines.loop_guard import CPU_SECONDS, HeldTooLong, guarded, watching
from smb_tui.local.engines.seam import (
    LogLine,
    MachineError,
    Outcome,
    RunLog,
    StateView,
    Step,
    Timer,
    ask_first,
    select_indexes,
)

INIT_EVENT = {"type": "xstate.init"}


class InstanceModel:
    """The chart's model: `self.model.context` in machine code is the instance's context."""

    def __init__(self, snapshot: Snapshot | None, context: dict[str, JSON]) -> None:
        self.context = context
        self.state: Any = OrderedSet(snapshot.state) if snapshot else None


class _Recorder:
    """Listens to the chart: which states it entered and left, and each settled event."""

    def __init__(self) -> None:
        self.outcome = Outcome()
        self.unhandled: list[Exception] = []  # errors no state took as error.execution

    # Async callbacks also put the chart on python-statemachine's async engine,
    # which runs invoked services as tasks we can wait for.
    async def on_enter_state(self, state: State) -> None:
        self.outcome.entered.append(state.id)

    async def on_exit_state(self, state: State) -> None:
        self.outcome.exited.append(state.id)


def _event_record(event_type: str, kwargs: dict[str, Any]) -> dict[str, JSON]:
    """The event as history shows it: `{type, ...payload}`.

    An event a client sent is recorded exactly as sent (`payload`), whatever its type;
    the chart's own events (a service's result, an action's error) are named as XState
    names them.
    """
    payload = kwargs.get("payload")
    if isinstance(payload, dict):
        return payload
    if event_type.startswith("done.invoke."):
        # python-statemachine suffixes a random invocation id; the state id is what matters.
        return {"type": event_type.rsplit(".", 1)[0], "data": _jsonable(kwargs.get("data"))}
    if event_type == "error.execution":
        return {"type": event_type, "error": str(kwargs.get("error"))}
    return {"type": event_type}


def _error_data(error: BaseException) -> dict[str, JSON]:
    """A service's failure as `data` of its `error.platform` event: plain JSON."""
    return {"name": type(error).__name__, "message": str(error)}


def _failed_service(machine: StateChart) -> str | None:
    """The state whose invoked service is failing, when called from that service's task.

    python-statemachine reports a failed service as `error.execution` from the
    service's own task; XState names that event `error.platform.<id>`."""
    task = asyncio.current_task()
    manager = machine._engine._invoke_manager
    for invocation in manager._active.values():
        if invocation.task is task:
            return str(invocation.state_id)
    return None


def _jsonable(value: Any) -> JSON:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


@cache
def _recording_chart(chart: type[StateChart]) -> type[StateChart]:
    """A subclass of `chart` that records a step each time an event has been processed.

    Invoked services deliver `done.invoke.*` by calling the chart's `send`, so this is
    the one place that sees every event the chart processes.
    """

    def send(self: StateChart, event: str, *args: Any, **kwargs: Any) -> Any:
        result = StateChart.send(self, event, *args, **kwargs)

        recorder: _Recorder = self._smb_recorder  # type: ignore[attr-defined]
        record_as = _event_record(event, kwargs)
        if event == "error.execution" and "payload" not in kwargs:
            service = _failed_service(self)
            if service is not None:
                error = kwargs.get("error")
                data = _error_data(error) if isinstance(error, BaseException) else None
                record_as = {"type": f"error.platform.{service}", "data": data}
                if not _takes_errors(self) and isinstance(error, Exception):
                    # XState throws an error.platform event no state takes: it fails.
                    recorder.unhandled.append(error)

        async def record() -> Any:
            value = await result
            recorder.outcome.steps.append(Step(record_as, _snapshot(self)))
            return value

        return record()

    return type(chart.__name__, (chart,), {"send": send, "__module__": chart.__module__})


def _snapshot(machine: StateChart) -> Snapshot:
    model: InstanceModel = machine.model  # type: ignore[assignment]
    history = {
        history_id: [state.id for state in states]
        for history_id, states in machine.history_values.items()
    }
    return Snapshot(list(machine.configuration_values), _copy(model.context), history)


def _restore_history(machine: StateChart, history: Mapping[str, Sequence[str]]) -> None:
    """Give the chart the history values its snapshot recorded: a chart is built for
    each request, and without them a history state would lead nowhere. What the chart no
    longer has (a snapshot of an earlier version) is left out."""
    states = machine.states_map
    pseudo = _history_state_ids(type(machine))
    machine.history_values = {
        history_id: [states[state_id] for state_id in state_ids if state_id in states]
        for history_id, state_ids in history.items()
        if history_id in pseudo
    }


@cache
def _history_state_ids(chart: type[StateChart]) -> frozenset[str]:
    """A chart's history pseudo-states (a class's, found once, not once an event)."""
    return frozenset(h.id for state in chart.states_map.values() for h in state.history)


def _migrated(value: Any) -> Snapshot:
    """What a migration function returned, as a snapshot this engine can run and the
    server can store; MachineError saying what is wrong with it."""
    if not isinstance(value, Snapshot):
        raise MachineError(f"it returned {type(value).__name__}, not a Snapshot(state, context)")
    state, context, history = value.state, value.context, value.history
    if not isinstance(state, list) or not all(isinstance(s, str) for s in state):
        raise MachineError("it returned a snapshot whose state is not a list of state ids")
    if not isinstance(context, dict):
        raise MachineError("it returned a snapshot whose context is not a dict")
    if not isinstance(history, dict) or not all(
        isinstance(key, str) and isinstance(ids, list) and all(isinstance(i, str) for i in ids)
        for key, ids in history.items()
    ):
        raise MachineError(
            "it returned a snapshot whose history is not {history state id: [state ids]}"
        )
    return Snapshot(list(state), _copy(context), {key: list(ids) for key, ids in history.items()})


def _copy(context: dict[str, JSON]) -> dict[str, JSON]:
    try:
        return json.loads(json.dumps(context))
    except (TypeError, ValueError) as error:
        raise MachineError(
            f"the machine put a value that is not JSON in its context: {error}"
        ) from error


class StatechartEngine:
    """Runs python-statemachine `StateChart`s. What machine code prints is stamped with
    `clock` (the server's: tests and screenshots freeze it)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    async def start(
        self,
        version: MachineVersion,
        context: dict[str, JSON],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,  # Python machines send to no instance
    ) -> Outcome:
        await ask_first(self, version, check)
        outcome = await self._run(version, None, _copy(context), [], settle_timeout)
        return _with_timers(outcome, version, machine)

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
        check: AuthRequest | None = None,
        instance: str = "",
        parent: Mapping[str, str] | None = None,  # Python machines send to no instance
    ) -> Outcome:
        await ask_first(self, version, check)
        outcome = await self._run(
            version, snapshot, _copy(snapshot.context), list(events), settle_timeout
        )
        return _with_timers(outcome, version, machine)

    @guarded
    async def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        authorizer = version.allow_read if request.type == "read" else version.allow_write
        try:
            with watching():
                return bool(authorizer(request))
        except HeldTooLong as stopped:
            raise _past_cpu_limit(stopped, (), self.clock) from None

    @guarded
    async def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        if not callable(to.migrate):
            raise MachineError(f"version {to.label!r} has no migration")
        try:
            with watching():
                return _migrated(to.migrate(snapshot))
        except HeldTooLong as stopped:
            raise _past_cpu_limit(stopped, (), self.clock) from None

    @guarded
    def index_values(
        self, version: MachineVersion, snapshot: Snapshot, indexes: Mapping[str, IndexSelector]
    ) -> dict[str, JSON]:
        try:
            with watching():
                return select_indexes(indexes, snapshot.context)
        except HeldTooLong:
            return dict.fromkeys(indexes)  # as a selector that raises: no value

    async def at_state(
        self, version: MachineVersion, value: JSON, context: dict[str, JSON]
    ) -> Snapshot:
        """The chart's active states that `value` names (with their ancestors), as the
        snapshot keeps them; MachineError for a value that is not one of its states."""
        active: list[str] = []

        def walk(children: list[State], value: JSON, parallel: bool) -> None:
            names = (
                [value]
                if isinstance(value, str)
                else list(value)
                if isinstance(value, dict)
                else []
            )
            if not names:
                raise MachineError(f"not a state of this version: {value!r}")
            if parallel and sorted(names) != sorted(c.id for c in children):
                raise MachineError("a parallel state's value names each of its regions")
            if not parallel and len(names) != 1:
                raise MachineError(f"one state at a time here, not {names!r}")
            for name in names:
                child = next((c for c in children if c.id == name), None)
                if child is None:
                    raise MachineError(f"not a state of this version: {name!r}")
                active.append(child.id)
                inner = value[name] if isinstance(value, dict) else None
                if child.states:
                    walk(list(child.states), inner if inner is not None else {}, child.parallel)
                elif inner not in (None, {}):
                    raise MachineError(f"{name!r} has no states inside")

        walk(list(version.chart.states), value, False)
        return Snapshot(active, dict(context))

    async def definition(self, version: MachineVersion) -> dict[str, JSON]:
        """The chart's states and transitions, as `seam.Engine.definition` shapes them;
        delayed transitions (`version.after`) carry their delay."""
        chart = version.chart
        delays = {
            (state_id, event): round(seconds * 1000)
            for state_id, pairs in version.after.items()
            for seconds, event in pairs
        }

        def node(state: State) -> dict[str, JSON]:
            children = list(state.states)
            kind = (
                "history"
                if state.is_history
                else "parallel"
                if state.parallel
                else "final"
                if state.final
                else "compound"
                if children
                else "atomic"
            )
            initial = next((c.id for c in children if c.initial), None)
            transitions: list[JSON] = []
            for transition in state.transitions:
                if transition.initial or transition.source is not state:
                    continue  # a compound state's way into its initial child
                for event in str(transition.event).split() or [""]:
                    delay = delays.get((state.id, event))
                    transitions.append(
                        {
                            "event": event if event and delay is None else None,
                            "targets": [t.id for t in transition.targets if t is not None],
                            "guard": ", ".join(str(spec) for spec in transition.cond) or None,
                            "delay": delay,
                            "always": not event,
                        }
                    )
            return {
                "id": state.id,
                "key": state.id,
                "type": kind,
                "initial": None if kind == "parallel" else initial,
                "tags": list(version.tags.get(state.id, ())),
                "invokes": [],
                "transitions": transitions,
                # History pseudo-states too, as XState's definitions have them: transitions
                # lead to them (`off.to(on.h)`), and a chart drawn without would drop those.
                "states": [node(child) for child in [*children, *state.history]],
            }

        top = list(chart.states)
        return {
            "id": chart.__name__,
            "root": {
                "id": "(machine)",
                "key": "(machine)",
                "type": "compound",
                "initial": next((s.id for s in top if s.initial), None),
                "tags": [],
                "invokes": [],
                "transitions": [],
                "states": [node(state) for state in top],
            },
        }

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        chart = version.chart
        active = set(snapshot.state)
        states = chart.states_map
        tags: list[str] = []
        for state_id in snapshot.state:
            for tag in version.tags.get(state_id, ()):
                if tag not in tags:
                    tags.append(tag)
        done = any(states[s].final and states[s].parent is None for s in active if s in states)
        return StateView(_state_value(list(chart.states), active, False), tags, done)

    @guarded
    async def _run(
        self,
        version: MachineVersion,
        snapshot: Snapshot | None,
        context: dict[str, JSON],
        events: list[dict[str, JSON]],
        settle_timeout: float,
    ) -> Outcome:
        printed = RunLog()  # what the code prints: as much as is kept, the rest counted
        try:
            with watching():
                return await self._running(
                    version, snapshot, context, events, settle_timeout, printed
                )
        except HeldTooLong as stopped:
            raise _past_cpu_limit(stopped, printed.kept(), self.clock) from None

    async def _running(
        self,
        version: MachineVersion,
        snapshot: Snapshot | None,
        context: dict[str, JSON],
        events: list[dict[str, JSON]],
        settle_timeout: float,
        printed: RunLog,
    ) -> Outcome:
        recorder = _Recorder()
        model = InstanceModel(snapshot, context)
        chart_class = _recording_chart(version.chart)
        with capture_prints(printed, self.clock):
            try:
                machine = chart_class(model=model, listeners=[recorder])
                machine._smb_recorder = recorder  # type: ignore[attr-defined]
                if snapshot is not None:
                    _restore_history(machine, snapshot.history)
                _watch_errors(machine, recorder)
                await machine.activate_initial_state()
                if snapshot is None:
                    recorder.outcome.steps.append(
                        Step(
                            dict(INIT_EVENT),
                            _snapshot(machine),
                        )
                    )
                for event in events:
                    event_type = delayed_event(version, str(event["type"]))
                    if _is_event(version.chart, event_type):
                        await machine.send(event_type, payload=event)
                    else:
                        # XState takes an event no state handles and stays put; so do we.
                        recorder.outcome.steps.append(
                            Step(
                                event,
                                _snapshot(machine),
                            )
                        )
                await _settle(machine, recorder.outcome, settle_timeout)
            except MachineError as error:
                raise MachineError(str(error), printed.kept()) from error
            except Exception as error:
                raise machine_failure(error, printed.kept(), self.clock) from error
        recorder.outcome.logs = printed.kept()
        if recorder.unhandled:
            # An exception in an action becomes error.execution (SCXML); where no state
            # takes that event, XState would have thrown: the event fails.
            raise machine_failure(recorder.unhandled[0], recorder.outcome.logs, self.clock)
        if any(not step.snapshot.state for step in recorder.outcome.steps):
            # python-statemachine enters nothing for a history state that has recorded
            # nothing and has no default (an instance copied in at a state, or a chart
            # that enters one before ever leaving its parent); stored, the instance would
            # be in no state at all, and answer no event again.
            raise MachineError(
                "the chart entered no state at all: a history state had nothing recorded"
                " and no default transition (give it one, e.g. `h.to(first_state)`)",
                recorder.outcome.logs,
            )
        return recorder.outcome


_AFTER = re.compile(r"xstate\.after\((\d+)\)#[^.]+(?:\.[^.]+)*\.([^.]+)")


def after_event_name(machine: str, version: MachineVersion, state_id: str, seconds: float) -> str:
    """XState's name for a delayed transition: `xstate.after(8000)#machine.parent.state`."""
    states = version.chart.states_map
    path = [state_id]
    parent = states[state_id].parent if state_id in states else None
    while parent is not None:
        path.append(parent.id)
        parent = parent.parent
    return f"xstate.after({round(seconds * 1000)})#{machine}.{'.'.join(reversed(path))}"


def delayed_event(version: MachineVersion, event_type: str) -> str:
    """The chart's event behind a delayed transition's XState name; other types as they are.

    State ids are unique in a chart, so the last part of the XState id names the state."""
    match = _AFTER.fullmatch(event_type)
    if match is None:
        return event_type
    milliseconds, state_id = int(match[1]), match[2]
    for seconds, chart_event in version.after.get(state_id, ()):
        if round(seconds * 1000) == milliseconds:
            return chart_event
    return event_type


def _with_timers(outcome: Outcome, version: MachineVersion, machine: str) -> Outcome:
    """The delayed transitions of the states entered and still active, under the state's
    id; those of the states left are cancelled."""
    active = set(outcome.final.state)
    outcome.timers = [
        Timer(state, {"type": after_event_name(machine, version, state, seconds)}, seconds)
        for state in dict.fromkeys(outcome.entered)
        if state in active
        for seconds, _ in version.after.get(state, ())
    ]
    outcome.cancelled = list(dict.fromkeys(outcome.exited))
    return outcome


def _past_cpu_limit(
    stopped: HeldTooLong, logs: Sequence[LogLine] = (), clock: Callable[[], float] = time.time
) -> MachineError:
    """The event's failure, with where the code was when it was stopped (stderr): the
    loop to look at."""
    trace = "".join(traceback.format_exception(stopped)).rstrip()
    where = LogLine(
        clock(),
        "stderr",
        f"smb-tui local: stopped past its {CPU_SECONDS:g} s CPU limit, here:\n{trace}",
    )
    return MachineError(
        f"the machine's code held the server past its {CPU_SECONDS:g} s CPU limit for one"
        " event, and was stopped",
        [*logs, where],
        "machine-cpu-limit",
    )


def machine_failure(
    error: BaseException, logs: list[LogLine], clock: Callable[[], float] = time.time
) -> MachineError:
    trace = "".join(traceback.format_exception(error)).rstrip()
    line = LogLine(clock(), "stderr", trace)
    return MachineError(f"the machine's code raised {type(error).__name__}: {error}", [*logs, line])


def _takes_errors(machine: StateChart) -> bool:
    """Whether an active state has a transition on error.execution."""
    states = machine.states_map
    return any(
        transition.match("error.execution")
        for state_id in machine.configuration_values
        if state_id in states
        for transition in states[state_id].transitions
    )


def _watch_errors(machine: StateChart, recorder: _Recorder) -> None:
    """Note each exception the chart turns into error.execution that no state takes.

    python-statemachine has no public hook for this; its engine's two error paths are
    wrapped (check on every upgrade of that library, like `_settle`)."""
    engine = machine._engine
    send_error = engine._send_error_execution
    make_handler = engine._on_error_handler

    def noted(error: Exception) -> None:
        if not _takes_errors(machine):
            recorder.unhandled.append(error)

    def send_error_execution(error: Exception, trigger_data: Any) -> None:
        noted(error)
        send_error(error, trigger_data)

    def on_error_handler() -> Any:
        handler = make_handler()
        if handler is None:
            return None

        def handle(error: Exception) -> None:
            noted(error)
            handler(error)

        return handle

    engine._send_error_execution = send_error_execution  # type: ignore[method-assign]
    engine._on_error_handler = on_error_handler  # type: ignore[method-assign]


def _is_event(chart: type[StateChart], event_type: str) -> bool:
    # Event types that name something else on the chart (`send`, `model`) are no events.
    return isinstance(getattr(chart, event_type, None), Event) or "." in event_type


async def _settle(machine: StateChart, outcome: Outcome, timeout: float) -> None:
    """Wait until no invoked service runs; past `timeout`, stop those still running."""
    # python-statemachine has no public view of running invocations; its manager does.
    manager = machine._engine._invoke_manager
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        stopped = _held_too_long(manager._active.values())
        if stopped is not None:  # a service the loop guard stopped fails the event
            manager.cancel_all()
            raise stopped
        running = {
            invocation.invokeid: invocation.task
            for invocation in manager._active.values()
            if not invocation.terminated and invocation.task is not None
        }
        if not running:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            outcome.stopped_services.extend(sorted(running))
            outcome.pending.extend(
                {
                    "type": "error.execution",
                    "error": f"service {service} was stopped: the instance did not settle in time",
                }
                for service in sorted(running)
            )
            manager.cancel_all()
            await asyncio.wait(running.values(), timeout=1)
            return
        await asyncio.wait(running.values(), timeout=remaining)


def _held_too_long(invocations: Iterable[Invocation]) -> HeldTooLong | None:
    """What stopped an invoked service's task that held the loop, if one was."""
    for invocation in invocations:
        task = invocation.task
        if task is not None and task.done() and not task.cancelled():
            error = task.exception()
            if isinstance(error, HeldTooLong):
                return error
    return None


# An invoked service's coroutine runs in a task of its own, under the library's runner:
# its frames are machine code the loop guard may stop (the event waits for it in _settle).
guarded(InvokeManager._run_async_handler)


def _state_value(children: list[State], active: set[str], parallel: bool) -> JSON:
    """XState's state value: a leaf id, or {parent: child value}; parallel: several keys."""
    if parallel:
        return {
            child.id: _state_value(list(child.states), active, child.parallel)
            if child.states
            else {}
            for child in children
        }
    for child in children:
        if child.id in active:
            if not child.states:
                return child.id
            return {child.id: _state_value(list(child.states), active, child.parallel)}
    return {}


# What machine code prints becomes the instance's logs, as on State Backed.
_log_sink: contextvars.ContextVar[tuple[RunLog, Callable[[], float]] | None] = (
    contextvars.ContextVar("smb_log_sink", default=None)
)


class _RoutedStream(io.TextIOBase):
    """Stands in for stdout/stderr: writes from machine code go to its instance's logs."""

    def __init__(self, target: TextIO, output_type: str) -> None:
        self.target = target
        self.output_type = output_type

    def write(self, text: str) -> int:
        routed = _log_sink.get()
        if routed is None:
            return self.target.write(text)
        sink, clock = routed
        if text.strip():
            sink.add(LogLine(clock(), self.output_type, text.rstrip("\n")))
        return len(text)

    def flush(self) -> None:
        self.target.flush()


@contextlib.contextmanager
def capture_prints(sink: RunLog, clock: Callable[[], float] = time.time) -> Iterator[None]:
    if not isinstance(sys.stdout, _RoutedStream):
        sys.stdout = _RoutedStream(sys.stdout, "stdout")
    if not isinstance(sys.stderr, _RoutedStream):
        sys.stderr = _RoutedStream(sys.stderr, "stderr")
    token = _log_sink.set((sink, clock))
    try:
        yield
    finally:
        _log_sink.reset(token)

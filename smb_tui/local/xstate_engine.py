"""Running State Backed machine modules: XState v4 bundles on V8 (mini-racer).

A module is what `smply machine-versions create` uploads: an ES module bundled by esbuild
(xstate inside) exporting `default` (a machine made with `createMachine`) and maybe
`allowRead` and `allowWrite`. V8 runs it as a script, not as a module (measured: a
script cannot hold `export`), so the bundle's closing `export{...}` becomes the value a
function returns, in a scope of its own. Each version gets one V8 context, made once.

The persisted state is XState's own state JSON (without its `history`), restored with
`machine.resolveState`. Events go through XState's pure `machine.transition`: guards,
`always`, `assign` and tags as XState does them; other actions run after it; a delayed
`send` (XState's `after`) is a timer the server fires durably, its `cancel` cancels it.
What this first engine leaves out: invoked services (promises, callbacks), the web APIs
beyond `console`, and migrations between module versions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smb_tui.local.definitions import JSON, AuthRequest, MachineVersion, Snapshot
from smb_tui.local.runtime import (
    Engine,
    LogLine,
    MachineError,
    Outcome,
    StateView,
    Step,
    Timer,
)

CPU_SECONDS = 1.0  # per call into machine code
MEMORY_BYTES = 128 * 1024 * 1024
_EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?\s*(?:/\*[\s\S]*?\*/\s*)*$")

GLUE = r"""
(() => {
  const logs = [];
  const text = (args) => args.map((a) => {
    if (typeof a === "string") return a;
    try { return JSON.stringify(a); } catch (e) { return String(a); }
  }).join(" ");
  globalThis.console = {
    log: (...a) => logs.push(["stdout", text(a)]),
    info: (...a) => logs.push(["stdout", text(a)]),
    debug: (...a) => logs.push(["stdout", text(a)]),
    warn: (...a) => logs.push(["stderr", text(a)]),
    error: (...a) => logs.push(["stderr", text(a)]),
  };
  const module = globalThis.__module;
  // XState v4 adds a state's delayed sends to its entry actions only once something asks
  // for that state's `after`: ask for every state's up front, or entering a state first
  // reached by a transition would start no timer.
  const ready = (m) => {
    for (const id of m.stateIds) m.getStateNodeById(id).after;
    return m;
  };
  const machine = ready(module.default);
  // What is kept of a state: what resolveState needs, not the last step's actions and
  // the previous state, which would grow every row.
  const plain = (state) => {
    const json = JSON.parse(JSON.stringify(state));
    delete json.history;
    delete json.actions;
    return json;
  };
  // Actions XState leaves to an interpreter: custom ones run here; a delayed send to
  // the machine itself is a timer, a send without delay is the next event.
  const perform = (state, queue, timers, cancelled) => {
    for (const action of state.actions) {
      if (action.type === "xstate.send") {
        if (action.to !== undefined) continue;
        if (action.delay !== undefined && action.delay !== null) {
          timers.push([String(action.id), action.event.type, Number(action.delay) / 1000]);
        } else {
          queue.push(action._event ? action._event.data : action.event);
        }
      } else if (action.type === "xstate.cancel") {
        cancelled.push(String(action.sendId));
      } else if (typeof action.exec === "function") {
        action.exec(state.context, state.event, { action, state, _event: state._event });
      }
    }
  };
  const run = (m, state, events, steps, timers, cancelled) => {
    const queue = [...events];
    while (queue.length) {
      const event = queue.shift();
      state = m.transition(state, event);
      perform(state, queue, timers, cancelled);
      steps.push([event, plain(state)]);
    }
    return state;
  };
  const answer = (steps, timers, cancelled) => {
    return JSON.stringify({ steps, timers, cancelled, logs: logs.splice(0) });
  };
  globalThis.__smb = {
    start(contextJson) {
      const context = JSON.parse(contextJson);
      const m = ready(machine.withContext({ ...(machine.context || {}), ...context }));
      const steps = [], timers = [], cancelled = [];
      let state = m.initialState;
      perform(state, [], timers, cancelled);
      steps.push([{ type: "xstate.init" }, plain(state)]);
      return answer(steps, timers, cancelled);
    },
    apply(stateJson, contextJson, eventsJson) {
      const json = JSON.parse(stateJson);
      json.context = JSON.parse(contextJson);
      const state = machine.resolveState(json);
      const steps = [], timers = [], cancelled = [];
      run(machine, state, JSON.parse(eventsJson), steps, timers, cancelled);
      return answer(steps, timers, cancelled);
    },
    authorize(kind, requestJson) {
      const check = kind === "read" ? module.allowRead : module.allowWrite;
      if (typeof check !== "function") return true;
      return Boolean(check(JSON.parse(requestJson)));
    },
    logs() { return JSON.stringify(logs.splice(0)); },
  };
})();
"""


def wrap_module(source: str) -> str:
    """An esbuild ES module as a script: its exports returned from a function scope."""
    match = _EXPORTS.search(source)
    if match is None:
        raise ValueError("the module exports nothing: it needs `export default` a machine")
    names = []
    for part in match.group(1).split(","):
        local, _, exported = part.strip().partition(" as ")
        if local:
            names.append(f"{json.dumps(exported.strip() or local)}: {local}")
    body = source[: match.start()]
    return f"globalThis.__module = (function () {{\n{body}\n;return {{{', '.join(names)}}};\n}})();"


class XStateModule:
    """One machine version from a bundle: its V8 context, made once, used one call at a
    time."""

    def __init__(self, path: Path) -> None:
        from py_mini_racer import MiniRacer

        self.path = path
        self.lock = threading.Lock()
        self.context = MiniRacer()
        self.context.set_hard_memory_limit(MEMORY_BYTES)
        try:
            self.context.eval(wrap_module(path.read_text()), timeout_sec=10)
            if not self.context.eval("typeof globalThis.__module.default") == "object":
                raise ValueError("its `default` export is not an XState machine")
            self.context.eval(GLUE)
        except Exception:
            self.close()
            raise

    def call(self, function: str, *args: str) -> Any:
        with self.lock:
            return self.context.call(f"__smb.{function}", *args, timeout_sec=CPU_SECONDS)

    def close(self) -> None:
        self.context.close()  # without it the process cannot exit


def load_module(path: Path) -> XStateModule:
    return XStateModule(path)


class XStateEngine:
    """The `Engine` for XState modules."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def _call(self, version: MachineVersion, function: str, *args: str) -> dict[str, Any]:
        module = _module(version)
        try:
            answer = module.call(function, *args)
        except Exception as error:
            logs = self._drain(module)
            trace = getattr(error, "args", [str(error)])[0]
            line = LogLine(self.clock(), "stderr", str(trace))
            raise MachineError(
                f"the machine's code failed: {str(error).splitlines()[0]}", [*logs, line]
            ) from error
        result: dict[str, Any] = json.loads(answer)
        return result

    def _drain(self, module: XStateModule) -> list[LogLine]:
        try:
            entries = json.loads(module.call("logs"))
        except Exception:
            return []
        return [LogLine(self.clock(), kind, text) for kind, text in entries]

    def _outcome(self, answer: dict[str, Any]) -> Outcome:
        outcome = Outcome()
        for event, state in answer["steps"]:
            context = state.get("context") or {}
            record = {"type": event} if isinstance(event, str) else event
            outcome.steps.append(Step(record, Snapshot(_without(state, "context"), context)))
        outcome.timers = [Timer(key, event, seconds) for key, event, seconds in answer["timers"]]
        outcome.cancelled = list(answer["cancelled"])
        outcome.logs = [LogLine(self.clock(), kind, text) for kind, text in answer["logs"]]
        return outcome

    async def start(
        self, version: MachineVersion, context: dict[str, JSON], settle_timeout: float, machine: str
    ) -> Outcome:
        return self._outcome(self._call(version, "start", json.dumps(context)))

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
    ) -> Outcome:
        answer = self._call(
            version,
            "apply",
            json.dumps(snapshot.state),
            json.dumps(snapshot.context),
            json.dumps(list(events)),
        )
        return self._outcome(answer)

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        state = snapshot.state if isinstance(snapshot.state, dict) else {}
        tags = state.get("tags") or []
        return StateView(state.get("value", {}), list(tags), bool(state.get("done")))

    def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        arguments = {
            "machineName": request.machine_name,
            "machineInstanceName": request.machine_instance_name,
            "authContext": dict(request.auth_context),
            "context": dict(request.context),
            "type": request.type,
            "state": request.state,
            "event": request.event,
        }
        kind = "read" if request.type == "read" else "write"
        return bool(_module(version).call("authorize", kind, json.dumps(arguments)))

    def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        raise MachineError("migrations between XState module versions are not supported yet")


class MixedEngine:
    """Python charts and XState modules side by side: each version to its own engine."""

    def __init__(self, python: Engine, xstate: XStateEngine) -> None:
        self.python = python
        self.xstate = xstate

    def _for(self, version: MachineVersion) -> Engine:
        return self.xstate if isinstance(version.chart, XStateModule) else self.python

    async def start(
        self, version: MachineVersion, context: dict[str, JSON], settle_timeout: float, machine: str
    ) -> Outcome:
        return await self._for(version).start(version, context, settle_timeout, machine)

    async def apply(
        self,
        version: MachineVersion,
        snapshot: Snapshot,
        events: Sequence[dict[str, JSON]],
        settle_timeout: float,
        machine: str,
    ) -> Outcome:
        return await self._for(version).apply(version, snapshot, events, settle_timeout, machine)

    def view(self, version: MachineVersion, snapshot: Snapshot) -> StateView:
        return self._for(version).view(version, snapshot)

    def authorize(self, version: MachineVersion, request: AuthRequest) -> bool:
        return self._for(version).authorize(version, request)

    def migrate(self, to: MachineVersion, snapshot: Snapshot) -> Snapshot:
        return self._for(to).migrate(to, snapshot)


def _module(version: MachineVersion) -> XStateModule:
    module = version.chart
    assert isinstance(module, XStateModule), "not an XState module"
    return module


def _without(state: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != key}


__all__ = ["MixedEngine", "XStateEngine", "XStateModule", "load_module", "wrap_module"]

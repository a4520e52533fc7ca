// Running XState v4 machines from State Backed machine modules, one isolate for every
// version a worker loaded. Python calls `__smb.*` (see xstate_engine.py); each call that
// processes events is a "run": it applies the events with XState's pure
// `machine.transition`, performs the actions XState leaves to an interpreter (as
// XState's own Interpreter does: custom actions, sends, cancels, logs, starting and
// stopping invoked promises and callbacks) and collects what the server persists.
(() => {
  "use strict";
  const host = globalThis.__host;
  const versions = new Map(); // key -> { module, machine }
  const migrations = new Map(); // key -> module
  const runs = new Map(); // id -> Run
  let nextRun = 1;
  let current = null; // the run whose code is executing
  let stray = []; // log lines written when no run was executing

  // --- the host's logging and randomness
  host.log = (stream, text) => {
    const run = current || (runs.size === 1 ? runs.values().next().value : null);
    (run ? run.logs : stray).push([stream, text]);
  };
  let pool = new Uint8Array(0);
  let used = 0;
  host.random = (count) => {
    if (pool.length - used < count) {
      throw new Error(
        "crypto: this event used up the randomness the local server gives one event (4 KB)",
      );
    }
    used += count;
    return pool.subarray(used - count, used);
  };
  const refill = (hex) => {
    if (!hex) return;
    const fresh = new Uint8Array(hex.length / 2);
    for (let i = 0; i < fresh.length; i++) fresh[i] = parseInt(hex.substr(i * 2, 2), 16);
    const next = new Uint8Array(pool.length - used + fresh.length);
    next.set(pool.subarray(used));
    next.set(fresh, pool.length - used);
    pool = next;
    used = 0;
  };

  // XState v4 adds a state's delayed sends to its entry actions only once something asks
  // for that state's `after`: ask for every state's up front, or entering a state first
  // reached by a transition would start no timer.
  const ready = (machine) => {
    for (const id of machine.stateIds) machine.getStateNodeById(id).after;
    return machine;
  };
  const isMachine = (value) =>
    value !== null && typeof value === "object" && typeof value.transition === "function" &&
    typeof value.resolveState === "function";

  const plainData = (value) => {
    if (value instanceof Error) return { name: value.name, message: value.message };
    return value;
  };
  // An event as the history records it: plain JSON, a failure as {name, message}.
  const record = (event) => {
    const plain = typeof event === "string" ? { type: event } : { ...event };
    if ("data" in plain) plain.data = plainData(plain.data);
    return JSON.parse(JSON.stringify(plain));
  };
  // What is kept of a state: what resolveState needs, not the last step's actions and
  // the previous state, which would grow every row.
  const keep = (state) => {
    const json = JSON.parse(JSON.stringify(state));
    delete json.history;
    delete json.actions;
    return json;
  };
  const mapContext = (mapper, context, event) => {
    if (typeof mapper === "function") return mapper(context, event.data);
    const out = {};
    for (const key of Object.keys(mapper)) {
      const value = mapper[key];
      out[key] = typeof value === "function" ? value(context, event.data) : value;
    }
    return out;
  };
  const errorText = (error) => (error instanceof Error ? error.stack || String(error) : String(error));
  const SETTLE = host.settleError; // data.name of the error a stopped service gets

  class Run {
    constructor(machine) {
      this.id = nextRun++;
      this.machine = machine;
      this.state = null;
      this.steps = [];
      this.timers = [];
      this.cancelled = [];
      this.logs = stray;
      stray = [];
      this.children = new Map();
      this.queue = [];
      this.busy = false;
      this.failure = null;
      this.waiter = null;
      runs.set(this.id, this);
    }

    within(work) {
      const previous = current;
      current = this;
      try {
        return work();
      } finally {
        current = previous;
      }
    }

    // Events from outside (the request) throw; those from services fail the run.
    push(event, origin) {
      this.queue.push({ event, origin });
      if (this.busy) return;
      try {
        this.drain();
      } catch (error) {
        this.failure = error;
      }
      this.check();
    }

    drain() {
      this.busy = true;
      try {
        this.within(() => {
          while (this.queue.length && !this.failure) {
            const { event, origin } = this.queue.shift();
            this.step(event, origin);
          }
        });
      } finally {
        this.busy = false;
      }
    }

    step(event, origin) {
      if (this.state.done) return; // XState's interpreter stops at a top-level final state
      const type = typeof event === "string" ? event : event.type;
      const takesErrors = this.state.nextEvents.some((e) => e.indexOf("error.platform") === 0);
      if (type.indexOf("error.platform") === 0 && !takesErrors) {
        const data = event.data;
        if (data && data.name === SETTLE) return; // a stopped service nobody waits on
        if (origin !== undefined) {
          // As XState's interpreter reports a failed invocation nobody handles.
          console.error(`Missing onError handler for invocation '${origin}', error was '${errorText(data)}'.`);
          return;
        }
        throw data;
      }
      this.state = this.machine.transition(this.state, event);
      this.steps.push([record(event), keep(this.state)]);
      this.perform(this.state);
      if (this.state.done) {
        for (const id of [...this.children.keys()]) this.stopChild(id);
        this.queue.length = 0;
      }
    }

    perform(state) {
      const meta = (action) => ({ action, state, _event: state._event });
      for (const action of state.actions) {
        if (typeof action.exec === "function") {
          action.exec(state.context, state._event.data, meta(action));
          continue;
        }
        switch (action.type) {
          case "xstate.send":
          case "xstate.raise": {
            const event = action._event ? action._event.data : action.event;
            if (typeof action.delay === "number") {
              if (action.to !== undefined && action.to !== null) {
                console.error(`a delayed send to '${action.to}' is not run by smb-tui local`);
              } else {
                this.timers.push([String(action.id), event, action.delay / 1000]);
              }
            } else if (action.to !== undefined && action.to !== null) {
              const child = this.children.get(String(action.to));
              if (child) child.receive(event);
              else console.error(`send to '${action.to}': no such running service`);
            } else {
              this.queue.push({ event });
            }
            break;
          }
          case "xstate.cancel":
            this.cancelled.push(String(action.sendId));
            break;
          case "xstate.start":
            this.start(action.activity, state);
            break;
          case "xstate.stop":
            this.stopChild(action.activity.id);
            break;
          case "xstate.log":
            if (action.label) console.log(action.label, action.value);
            else console.log(action.value);
            break;
          default:
            break;
        }
      }
    }

    start(activity, state) {
      if (!state.activities[activity.id || activity.type]) return; // stopped right away
      if (activity.type !== "xstate.invoke") {
        console.error(`activity '${activity.type}': activities are not run by smb-tui local`);
        return;
      }
      const src = typeof activity.src === "string" ? { type: activity.src } : activity.src;
      const services = this.machine.options.services || {};
      const creator = services[src.type];
      if (!creator) {
        console.error(`No service found for invocation '${src.type}' in machine '${this.machine.id}'.`);
        return;
      }
      const data = activity.data ? mapContext(activity.data, state.context, state._event) : undefined;
      const source = typeof creator === "function"
        ? creator(state.context, state._event.data, { data, src, meta: activity.meta })
        : creator;
      if (!source) return;
      const id = activity.id;
      if (typeof source.then === "function") this.spawnPromise(id, source);
      else if (typeof source === "function") this.spawnCallback(id, source);
      else {
        const kind = isMachine(source) ? "a machine" : "an observable or actor";
        throw new Error(`service '${id}' is ${kind}: smb-tui local runs promises and callbacks`);
      }
    }

    spawnPromise(id, promise) {
      const child = { id, stopped: false, receive() {}, stop() { this.stopped = true; } };
      this.children.set(id, child);
      Promise.resolve(promise).then(
        (data) => {
          if (child.stopped) return;
          this.children.delete(id);
          this.push({ type: `done.invoke.${id}`, data }, id);
        },
        (error) => {
          if (child.stopped) return;
          this.children.delete(id);
          this.push({ type: `error.platform.${id}`, data: error }, id);
        },
      );
    }

    spawnCallback(id, callback) {
      const listeners = new Set();
      let cleanup;
      const child = {
        id,
        stopped: false,
        receive: (event) => listeners.forEach((listener) => this.within(() => listener(event))),
        stop: () => {
          child.stopped = true;
          if (typeof cleanup === "function") this.within(cleanup);
        },
      };
      this.children.set(id, child);
      const sendBack = (event) => {
        if (!child.stopped) this.push(typeof event === "string" ? { type: event } : event, id);
      };
      cleanup = callback(sendBack, (listener) => listeners.add(listener));
      if (cleanup && typeof cleanup.then === "function") {
        cleanup.then(undefined, (error) => {
          if (child.stopped) return;
          this.children.delete(id);
          this.push({ type: `error.platform.${id}`, data: error }, id);
        });
      }
    }

    stopChild(id) {
      const child = this.children.get(id);
      if (!child) return;
      this.children.delete(id);
      child.stop();
    }

    check() {
      if (this.waiter && (this.failure || (!this.children.size && !this.queue.length))) {
        this.waiter();
        this.waiter = null;
      }
    }

    settled() {
      return new Promise((resolve) => {
        this.waiter = resolve;
        this.check();
      });
    }

    finish() {
      runs.delete(this.id);
      const stopped = [...this.children.keys()].sort();
      this.within(() => stopped.forEach((id) => this.stopChild(id)));
      if (this.failure) {
        return { failure: errorText(this.failure), logs: this.logs };
      }
      return {
        steps: this.steps,
        timers: this.timers,
        cancelled: this.cancelled,
        stopped,
        logs: this.logs,
      };
    }

    summary() {
      return { id: this.id, running: this.children.size + this.queue.length };
    }
  }

  const entry = (key) => {
    const found = versions.get(key);
    if (!found) throw new Error(`no machine version ${key} is loaded`);
    return found;
  };
  const paths = (value, prefix = []) => {
    if (typeof value === "string") return [[...prefix, value]];
    const keys = Object.keys(value || {});
    if (!keys.length) return prefix.length ? [prefix] : [];
    return keys.flatMap((key) => paths(value[key], [...prefix, key]));
  };
  const valueOf = (statePaths) => {
    const value = {};
    for (const path of statePaths) {
      let node = value;
      path.forEach((part, i) => {
        if (i === path.length - 1) {
          if (!(part in node)) node[part] = {};
        } else {
          node = node[part] = typeof node[part] === "object" ? node[part] : {};
        }
      });
    }
    // {a: {}} is the state value "a"; nested leaves likewise.
    const squash = (node) => {
      const keys = Object.keys(node);
      if (keys.length === 1 && !Object.keys(node[keys[0]]).length) return keys[0];
      const out = {};
      for (const key of keys) out[key] = Object.keys(node[key]).length ? squash(node[key]) : {};
      return out;
    };
    return squash(value);
  };

  // An authorizer's answer (none exported: yes); what it prints goes with the next run.
  const asks = (check, requestJson) => {
    if (typeof check !== "function") return true;
    const run = new Run(null);
    try {
      return run.within(() => Boolean(check(JSON.parse(requestJson))));
    } finally {
      runs.delete(run.id);
      stray.push(...run.logs);
    }
  };
  // null when allowed; else "" for a no, or what it threw.
  const refuses = (check, requestJson) => {
    try {
      return asks(check, requestJson) ? null : "";
    } catch (error) {
      return errorText(error);
    }
  };

  // Each call answers a JSON string; `entropy` (hex) tops up crypto's pool first.
  const answer = (value) => JSON.stringify({ value, wanted: used });
  const withEntropy = (entropy, work) => {
    refill(entropy);
    return answer(work());
  };

  globalThis.__smb = {
    register(key, kind) {
      const module = globalThis.__module;
      delete globalThis.__module;
      if (kind === "migration") {
        migrations.set(key, module);
        const names = ["upgradeState", "upgradeContext"].filter((n) => typeof module[n] === "function");
        if (!names.length) throw new Error("a migration module exports upgradeState and/or upgradeContext");
        return names.join(",");
      }
      if (!isMachine(module.default)) {
        throw new Error("its `default` export is not an XState machine (createMachine)");
      }
      versions.set(key, { module, machine: ready(module.default) });
      return Object.keys(module).sort().join(",");
    },
    begin(entropy, key, stateJson, contextJson, eventsJson, checkJson) {
      return withEntropy(entropy, () => {
        const { module, machine } = entry(key);
        if (checkJson !== null) {
          // allowWrite first, in this same call: a no (or a throw) and nothing runs.
          const refusal = refuses(module.allowWrite, checkJson);
          if (refusal !== null) return { refused: refusal };
        }
        const context = JSON.parse(contextJson);
        let run;
        if (stateJson === null) {
          const base = machine.context && typeof machine.context === "object" ? machine.context : {};
          run = new Run(ready(machine.withContext({ ...base, ...context })));
          try {
            run.within(() => {
              run.state = run.machine.initialState;
              run.steps.push([{ type: "xstate.init" }, keep(run.state)]);
              run.perform(run.state);
            });
          } catch (error) {
            runs.delete(run.id);
            stray.push(...run.logs);
            throw error;
          }
        } else {
          const json = JSON.parse(stateJson);
          json.context = context;
          run = new Run(machine);
          run.state = machine.resolveState(json);
        }
        try {
          for (const event of JSON.parse(eventsJson)) run.queue.push({ event });
          run.drain();
        } catch (error) {
          runs.delete(run.id);
          stray.push(...run.logs);
          throw error;
        }
        // Settled already (no service running): the run's answer at once, saving a call.
        const summary = run.summary();
        return summary.running ? summary : { ...summary, answer: run.finish() };
      });
    },
    settled(id) {
      const run = runs.get(id);
      return run ? run.settled() : Promise.resolve();
    },
    finish(entropy, id) {
      return withEntropy(entropy, () => {
        const run = runs.get(id);
        if (!run) throw new Error(`no run ${id}`);
        return run.finish();
      });
    },
    authorize(entropy, key, kind, requestJson) {
      return withEntropy(entropy, () => {
        const { module } = entry(key);
        return asks(kind === "read" ? module.allowRead : module.allowWrite, requestJson);
      });
    },
    migrate(entropy, key, toKey, stateJson, contextJson) {
      return withEntropy(entropy, () => {
        const module = migrations.get(key);
        const { machine } = entry(toKey);
        const old = JSON.parse(stateJson);
        const context = JSON.parse(contextJson);
        const oldPaths = paths(old.value);
        const newPaths = oldPaths.map((path) =>
          typeof module.upgradeState === "function" ? module.upgradeState([...path], context) : path,
        );
        const newContext = typeof module.upgradeContext === "function"
          ? module.upgradeContext(oldPaths, newPaths, context)
          : context;
        for (const path of newPaths) machine.getStateNodeByPath(path); // throws on a bad path
        const state = machine.resolveState({
          ...old,
          value: valueOf(newPaths),
          context: newContext,
          activities: {},
          children: {},
          historyValue: undefined,
          configuration: [],
        });
        return keep(state);
      });
    },
    logs() {
      return JSON.stringify(stray.splice(0));
    },
  };
})();

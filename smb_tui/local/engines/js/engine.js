// Running XState v4 machines from State Backed machine modules. One context (one V8
// isolate) per machine version, in a worker process: no version can see another's code
// or data. Python calls `__smb.*` (see xstate_worker.py), each call with the context's
// secret; each call that processes events is a "run": it applies the events with XState's
// pure `machine.transition`, performs the actions XState leaves to an interpreter (as
// XState's own Interpreter does: custom actions, sends, cancels, logs, and actors spawned
// or invoked: machines, promises, callbacks, observables, which live as long as the event's
// run, as State Backed's do) and collects what the server persists.
//
// Each machine instance gets a module instance of its own (the module's top-level code
// evaluated afresh for it), so that module-level variables never carry one instance's data
// into another's; the most recent INSTANCES_KEPT are kept, each for the runs and authorizer
// calls of its instance. (State Backed evaluates the module for every run; here that cost
// 2.5 ms an event for the demo ticket, more than the rest of the event, so a module
// instance lives on between the runs of its own instance in one worker.) One spare per
// version is made in advance (`refill`), so a new instance rarely waits for one.
//
// Part of `install(py, secret, settleError, fetchAllowed)`, after web.js.
//
// Why one file of ~900 lines: like web.js, it is part of one closure (nothing of it is a
// global machine code could reach), and the interpreter's steps (actions, sends, services,
// the run's settling) share that closure's state.

const versions = new Map(); // key -> { factory, kind }
const spares = new Map(); // key -> a fresh instance, made ahead of the run that takes it
const INSTANCES_KEPT = 32;
const kept = new Map(); // `${key}\n${instance name}` -> its module instance, oldest first
let refillWanted = false;
const runs = new Map(); // id -> Run
let nextRun = 1;
let current = null; // the run whose code is executing
const currentRun = () => current;

// --- randomness: a pool Python tops up before each call (getRandomValues is synchronous)
let pool = new Uint8Array(0);
let used = 0;
const random = (count) => {
  if (pool.length - used < count) {
    throw new Error("crypto: this event used up the randomness the local server gives one event (4 KB)");
  }
  used += count;
  return pool.subarray(used - count, used);
};
const refillEntropy = (hex) => {
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

// --- module instances
const instantiate = (key) => {
  const found = versions.get(key);
  if (!found) throw new Error(`no module ${key} is loaded`);
  const holder = { run: null };
  const scope = makeScope(holder);
  const module = found.factory(
    scope.console,
    scope.setTimeout,
    scope.clearTimeout,
    scope.setInterval,
    scope.clearInterval,
    scope.fetch,
  );
  if (found.kind === "migration") return { module, holder };
  if (!isMachine(module.default)) {
    throw new Error("its `default` export is not an XState machine (createMachine)");
  }
  return { module, machine: ready(module.default), holder };
};
const take = (key) => {
  const spare = spares.get(key);
  if (spare) {
    spares.delete(key);
    refillWanted = true;
    return spare;
  }
  return instantiate(key);
};
const instanceOf = (key, name) => {
  const id = `${key}\n${name}`;
  let found = kept.get(id);
  if (found) {
    kept.delete(id);
  } else {
    found = take(key);
    if (kept.size >= INSTANCES_KEPT) kept.delete(kept.keys().next().value);
  }
  kept.set(id, found);
  return found;
};
// New globals a run left are removed, so that the next run starts as this one did.
let baseline = null;
const sweep = () => {
  for (const name of Reflect.ownKeys(globalThis)) {
    if (!baseline.has(name)) {
      try {
        delete globalThis[name];
      } catch (error) {
        // not configurable: it stays
      }
    }
  }
};

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

class Run {
  // `parentRun`, `childId`: an ephemeral machine spawned or invoked by `parentRun` (see
  // spawnMachine), which lives as long as the event its root run processes.
  constructor(instance, parentRun = null, childId = null) {
    this.instance = instance;
    this.machine = instance.machine;
    this.parentRun = parentRun;
    this.childId = childId;
    this.root = parentRun ? parentRun.root : this;
    this.service = Object.freeze({ spawn: (entity, name, options) => this.spawn(entity, name, options) });
    this.delays = new Map(); // an ephemeral child's delayed sends: send id -> timer id
    this.state = null;
    this.steps = [];
    this.timers = [];
    this.cancelled = [];
    this.logs = [];
    this.children = new Map();
    this.queue = [];
    this.busy = false;
    this.failure = null;
    this.waiter = null;
    this.finished = false;
    this.timersMade = 0;
    this.parent = null; // the persistent instance that spawned this one, if one did
    this.spawns = []; // persistent instances spawned: made once the run is stored
    this.sends = []; // events to other persistent instances: sent once it is stored
    if (parentRun) {
      // What a child does is its root run's: its logs, persistent spawns and sends.
      this.id = this.root.id;
      this.logs = this.root.logs;
      this.spawns = this.root.spawns;
      this.sends = this.root.sends;
      this.stopped = false;
      Object.defineProperty(this, "finished", { get: () => this.stopped || this.root.finished });
      return;
    }
    this.id = nextRun++;
    instance.holder.run = this;
    runs.set(this.id, this);
  }

  log(stream, text) {
    if (!this.root.finished) this.root.logs.push([stream, text]);
  }

  // XState's machine.transition with this run as the interpreter that `spawn` finds:
  // XState v4's spawn asks `serviceStack[serviceStack.length - 1]`, a stack private to the
  // module's own copy of XState that only its Interpreter fills; with it empty, that
  // reads the array's "-1" property, which here answers this run for the call's length
  // (and nothing otherwise). Without it, spawn makes a "deferred" actor nobody starts.
  transition(work) {
    const before = Object.getOwnPropertyDescriptor(Array.prototype, "-1");
    const service = this.service;
    Object.defineProperty(Array.prototype, "-1", { get: () => service, configurable: true });
    try {
      return work();
    } finally {
      if (before) Object.defineProperty(Array.prototype, "-1", before);
      else delete Array.prototype["-1"];
    }
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
    if (this.finished) return;
    this.queue.push({ event, origin });
    if (this.busy) return;
    try {
      this.drain();
    } catch (error) {
      this.failure = error;
    }
    if (this.failure && this.parentRun) this.failed();
    this.check();
  }

  // A child machine threw: it stops, and its parent gets the error as XState's invoke does.
  failed() {
    const error = this.failure;
    this.failure = null;
    this.halt();
    const parent = this.parentRun;
    if (parent.children.get(this.childId)?.run !== this) return;
    parent.children.delete(this.childId);
    parent.push({ type: `error.platform.${this.childId}`, data: error }, this.childId);
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
      if (data && data.name === settleError) return; // a stopped service nobody waits on
      if (origin !== undefined) {
        // As XState's interpreter reports a failed invocation nobody handles.
        this.log("stderr", `Missing onError handler for invocation '${origin}', error was '${errorText(data)}'.`);
        return;
      }
      throw data;
    }
    this.state = this.transition(() => this.machine.transition(this.state, event));
    this.perform(this.state);
    for (const child of this.children.values()) if (child.forwarded) child.receive(event);
    if (this.root === this) this.steps.push([record(event), keep(this.state)]);
    if (this.state.done) {
      for (const id of [...this.children.keys()]) this.stopChild(id);
      this.queue.length = 0;
      if (this.parentRun) this.ended();
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
          if (typeof action.delay === "number" && this.parentRun) {
            this.delay(action, event);
          } else if (typeof action.delay === "number") {
            const ref = action.to === undefined || action.to === null || action.to === "#_internal"
              ? null
              : this.persistentTarget(action.to);
            if (ref) {
              // Fired by the server when due, from this instance, to the other one.
              const to = { machineName: ref.machineName, machineInstanceName: ref.machineInstanceName };
              const sent = typeof event === "string" ? { type: event } : event;
              this.timers.push([String(action.id), { type: PERSISTENT_SEND, to, event: sent }, action.delay / 1000]);
            } else if (action.to !== undefined && action.to !== null && action.to !== "#_internal") {
              this.log("stderr", `a delayed send to '${String(action.to)}' is not run by smb-tui local`);
            } else {
              this.timers.push([String(action.id), event, action.delay / 1000]);
            }
          } else if (action.to === "#_internal") {
            this.queue.push({ event });
          } else if (action.to !== undefined && action.to !== null) {
            this.sendTo(action.to, event);
          } else {
            this.queue.push({ event });
          }
          break;
        }
        case "xstate.cancel":
          if (this.parentRun) this.undelay(String(action.sendId));
          else this.cancelled.push(String(action.sendId));
          break;
        case "xstate.start":
          this.start(action.activity, state);
          break;
        case "xstate.stop":
          this.stopChild(action.activity.id);
          break;
        case "xstate.log":
          this.log("stdout", action.label ? `${action.label} ${show(action.value)}` : show(action.value));
          break;
        default:
          break;
      }
    }
  }

  start(activity, state) {
    if (!state.activities[activity.id || activity.type]) return; // stopped right away
    // A replay runs no service: what services did comes from the recorded history.
    if (this.root.replay) return;
    if (activity.type !== "xstate.invoke") {
      this.log("stderr", `activity '${activity.type}': activities are not run by smb-tui local`);
      return;
    }
    const src = typeof activity.src === "string" ? { type: activity.src } : activity.src;
    if (src && src.type === "statebacked.invoke") {
      // @statebacked/machine's persistentInvocableSource: the instance is made (with the
      // invocation's data as its context, this instance as its parent) once the run is
      // stored; sends to the invocation's id reach it while its state is active.
      const data = activity.data ? mapContext(activity.data, state.context, state._event) : null;
      this.spawns.push({
        ref: invokedRef(activity.id, src),
        request: {
          machineName: String(src.machineName),
          machineInstanceName: String(src.machineInstanceName),
          machineVersionId: src.machineVersionId ?? null,
          context: data,
        },
      });
      return;
    }
    const services = this.machine.options.services || {};
    const creator = services[src.type];
    if (!creator) {
      this.log("stderr", `No service found for invocation '${src.type}' in machine '${this.machine.id}'.`);
      return;
    }
    const data = activity.data ? mapContext(activity.data, state.context, state._event) : undefined;
    const source = typeof creator === "function"
      ? creator(state.context, state._event.data, { data, src, meta: activity.meta })
      : creator;
    if (!source) return;
    const id = activity.id;
    if (isMachine(source)) {
      // As XState's interpreter invokes a machine: its data is the child's context.
      const child = data !== undefined ? source.withContext(data) : source;
      this.spawnMachine(id, child, { autoForward: activity.autoForward });
    } else {
      this.spawn(source, id, { autoForward: activity.autoForward });
    }
  }

  // What XState's `spawn` (in an assign) and invoke call: an actor for the entity, running
  // until it ends, it is stopped, or the event's run is over (ephemeral, as State Backed
  // runs them: see its "settling" docs). Answers the actor's ref.
  spawn(entity, name, options = {}) {
    const id = String(name);
    if (this.root.replay) return actorRef({ id, receive() {}, stop() {} }); // nothing runs
    let child;
    if (entity && typeof entity.then === "function") child = this.spawnPromise(id, entity);
    else if (typeof entity === "function") child = this.spawnCallback(id, entity);
    else if (isMachine(entity)) return this.spawnMachine(id, entity, options).ref;
    else if (entity && typeof entity.send === "function" && "id" in entity) {
      child = { id, receive: (event) => entity.send(event), stop() {} };
      this.children.set(id, child);
      child.ref = entity;
      return entity;
    } else if (entity && typeof entity.subscribe === "function") child = this.spawnObservable(id, entity);
    else throw new Error(`Unable to spawn entity "${id}" of type "${typeof entity}".`);
    child.ref = actorRef(child);
    if (options.autoForward) child.forwarded = true;
    return child.ref;
  }

  // An ephemeral machine: a run of its own (not stored, no history) whose logs, persistent
  // sends and spawns are its root run's, whose sendParent reaches this run, and whose end
  // (a top-level final state) is `done.invoke.<id>` here with its done data.
  spawnMachine(id, machine, options = {}) {
    const run = new Run({ machine: ready(machine), holder: this.instance.holder }, this, id);
    const child = {
      id,
      run,
      forwarded: Boolean(options.autoForward),
      receive: (event) => run.push(event),
      stop: () => run.halt(),
    };
    child.ref = actorRef(child);
    this.children.set(id, child);
    run.within(() => {
      run.state = run.transition(() => run.machine.initialState);
      run.perform(run.state);
      run.drain();
      if (run.state.done) run.ended();
    });
    return child;
  }

  // A child machine reached its final state: its parent hears of it.
  ended() {
    if (this.stopped) return;
    this.halt();
    const parent = this.parentRun;
    if (parent.children.get(this.childId)?.run !== this) return;
    parent.children.delete(this.childId);
    const final = this.state.configuration.find((node) => node.type === "final" && node.parent === this.machine);
    const data = final && final.doneData ? mapContext(final.doneData, this.state.context, this.state._event) : undefined;
    parent.push({ type: `done.invoke.${this.childId}`, data }, this.childId);
  }

  halt() {
    this.stopped = true;
    for (const id of [...this.children.keys()]) this.stopChild(id);
    for (const timer of this.delays.values()) this.root.scope().clearTimeout(timer);
    this.delays.clear();
  }

  // An ephemeral child's delayed send: a timer of the root run's, as the event's run lasts.
  delay(action, event) {
    const id = String(action.id);
    this.undelay(id);
    const timer = this.root.scope().setTimeout(() => {
      this.delays.delete(id);
      if (this.stopped) return;
      if (action.to === "#_parent") this.parentRun.push(event, this.childId);
      else if (action.to !== undefined && action.to !== null && action.to !== "#_internal") {
        this.within(() => this.sendTo(action.to, event));
      } else this.push(event);
    }, action.delay);
    this.delays.set(id, timer);
  }

  undelay(id) {
    const timer = this.delays.get(id);
    if (timer === undefined) return;
    this.delays.delete(id);
    this.root.scope().clearTimeout(timer);
  }

  // Timers for ephemeral children, made when one first needs them.
  scope() {
    if (!this.timerScope) {
      const run = this;
      this.timerScope = makeScope({ get run() { return run; } });
    }
    return this.timerScope;
  }

  spawnObservable(id, observable) {
    let subscription = null;
    const child = { id, stopped: false, receive() {}, stop() { child.stopped = true; subscription?.unsubscribe?.(); } };
    this.children.set(id, child);
    subscription = observable.subscribe(
      (value) => { if (!child.stopped) this.push(typeof value === "string" ? { type: value } : value, id); },
      (error) => {
        if (child.stopped) return;
        this.children.delete(id);
        this.push({ type: `error.platform.${id}`, data: error }, id);
      },
      () => {
        if (child.stopped) return;
        this.children.delete(id);
        this.push({ type: `done.invoke.${id}` }, id);
      },
    );
    return child;
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
    return child;
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
    return child;
  }

  // A send with a target, as XState's interpreter resolves one (a running child by id),
  // and as State Backed adds: a persistent instance (a `statebacked.instance` reference,
  // as @statebacked/machine's sendTo and spawnPersistentInstance make them, or the local id
  // of one in the context), and the parent that spawned this instance. A send to no
  // target throws, as XState's does, and the event fails.
  sendTo(to, event) {
    const child = typeof to === "string" ? this.children.get(to) : undefined;
    if (child) return child.receive(event);
    if (to && typeof to === "object" && typeof to.send === "function") return to.send(event);
    if (to === "#_parent" && this.parentRun) return this.parentRun.push(event, this.childId);
    const ref = this.persistentTarget(to);
    if (ref) return this.persistentSend(ref, event);
    if (to && typeof to === "object" && typeof to.id === "string") {
      // The ref of an ephemeral actor, kept in the context after its event was over.
      throw new Error(
        `Unable to send event to actor '${to.id}' from service '${this.machine.id}': it was spawned by an earlier event, and spawned and invoked actors live only while the event that started them is processed (State Backed's "settling")`,
      );
    }
    throw new Error(`Unable to send event to child '${String(to)}' from service '${this.machine.id}'.`);
  }

  // A persistent instance a send names: a reference, the parent, or a spawned one's id.
  persistentTarget(to) {
    if (isPersistentRef(to)) return to;
    if (typeof to !== "string") return null;
    if (to === "#_parent") return this.parent;
    return this.persistentRef(to) || null;
  }

  persistentSend(ref, event) {
    const plain = typeof event === "string" ? { type: event } : event;
    this.sends.push({ machineName: ref.machineName, machineInstanceName: ref.machineInstanceName, event: plain });
  }

  // A persistent instance by the local id it was spawned under (this run's, or one kept
  // in the context, as spawnPersistentInstance's reference is assigned there).
  persistentRef(id) {
    const spawned = this.spawns.find((s) => s.ref.id === id);
    if (spawned) return spawned.ref;
    const found = [];
    const look = (value, depth) => {
      if (found.length || depth > 8 || !value || typeof value !== "object") return;
      if (isPersistentRef(value) && value.id === id) return found.push(value);
      for (const key of Object.keys(value)) look(value[key], depth + 1);
    };
    look(this.state && this.state.context, 0);
    if (found.length) return found[0];
    // A persistent invocation of a state the instance is in.
    for (const node of (this.state && this.state.configuration) || []) {
      for (const invocation of node.invoke || []) {
        const src = invocation.src;
        if (invocation.id === id && src && src.type === "statebacked.invoke") return invokedRef(id, src);
      }
    }
    return undefined;
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

  // The run is over: its services stop, and nothing it left behind (a timer, a promise
  // callback) is the run's any more.
  close() {
    const stopped = [...this.children.keys()].sort();
    this.within(() => stopped.forEach((id) => this.stopChild(id)));
    this.finished = true;
    runs.delete(this.id);
    if (this.waiter) this.waiter();
    sweep();
    return stopped;
  }

  finish() {
    const stopped = this.close();
    if (this.failure) {
      return { failure: errorText(this.failure), logs: this.logs };
    }
    return {
      steps: this.steps,
      timers: this.timers,
      cancelled: this.cancelled,
      stopped,
      logs: this.logs,
      spawns: this.spawns.map((s) => s.request),
      sends: this.sends,
    };
  }

  summary() {
    return { id: this.id, running: this.children.size + this.queue.length };
  }
}

// An ephemeral actor's ref, as XState's interpreter gives: `send` reaches it while it runs;
// stored, it is `{id}` (XState's toJSON).
const actorRef = (child) => ({
  id: child.id,
  send: (event) => child.receive(typeof event === "string" ? { type: event } : event),
  subscribe: () => ({ unsubscribe() {} }),
  getSnapshot: () => (child.run ? child.run.state : undefined),
  stop: () => child.stop(),
  toJSON: () => ({ id: child.id }),
});
const invokedRef = (id, src) => ({
  type: "statebacked.instance",
  id,
  machineName: String(src.machineName),
  machineInstanceName: String(src.machineInstanceName),
});
// The event of a timer that, when due, sends to another persistent instance.
const PERSISTENT_SEND = "statebacked.send";
const isPersistentRef = (value) =>
  Boolean(value) && typeof value === "object" && value.type === "statebacked.instance" &&
  typeof value.machineName === "string" && typeof value.machineInstanceName === "string";

// What @statebacked/machine's spawnPersistentInstance calls, when the runtime has it: the
// instance is made (with its context) once the spawning run is stored.
const statebackedRuntime = Object.freeze({
  spawn(descriptor, options) {
    const run = current;
    if (!run) throw new Error("spawnPersistentInstance is called within an assign action");
    if (!descriptor || typeof descriptor.machineName !== "string") {
      throw new Error("spawnPersistentInstance needs { machineName }");
    }
    const opts = options || {};
    const ref = {
      type: "statebacked.instance",
      id: String(opts.name ?? crypto.randomUUID()),
      machineName: descriptor.machineName,
      machineInstanceName: String(descriptor.machineInstanceName ?? crypto.randomUUID()),
    };
    run.spawns.push({
      ref,
      request: {
        machineName: ref.machineName,
        machineInstanceName: ref.machineInstanceName,
        machineVersionId: descriptor.machineVersionId ?? null,
        context: opts.context ?? null,
      },
    });
    return ref;
  },
});

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

// `base` (a state of this or an older version) moved to `value` with `context`, as a
// migration or a copy places an instance: nothing of `base`'s activities, services or
// history comes along, and no action runs.
const placed = (machine, base, value, context) =>
  machine.resolveState({
    ...base,
    value,
    context,
    actions: [],
    activities: {},
    children: {},
    historyValue: undefined,
    configuration: [],
  });

// An authorizer's answer within `run` (none exported: yes).
// `request`: parsed from JSON for this call alone (the authorizer may change it).
const asks = (run, check, request) => {
  if (typeof check !== "function") return true;
  return run.within(() => Boolean(check(request)));
};
// null when allowed; else "" for a no, or what it threw.
const refuses = (run, check, request) => {
  try {
    return asks(run, check, request) ? null : "";
  } catch (error) {
    return errorText(error);
  }
};

// Each call answers a JSON string; `entropy` (hex) tops up crypto's pool first;
// `refill`: a spare was taken, make another (after answering).
const withEntropy = (entropy, work) => {
  refillEntropy(entropy);
  refillWanted = false;
  const value = work();
  return JSON.stringify({ value, wanted: used, refill: refillWanted });
};
const guard = (given) => {
  if (given !== secret) throw new Error("not the host");
};

const api = {
  // `factory` is the module as a function of its run's console, timers and fetch.
  define(given, key, kind, factory) {
    guard(given);
    versions.set(key, { factory, kind });
    let instance;
    try {
      instance = instantiate(key);
    } catch (error) {
      versions.delete(key);
      throw error;
    }
    if (kind === "migration") {
      const names = ["upgradeState", "upgradeContext"].filter((n) => typeof instance.module[n] === "function");
      if (!names.length) {
        versions.delete(key);
        throw new Error("a migration module exports upgradeState and/or upgradeContext");
      }
      return names.join(",");
    }
    spares.set(key, instance);
    return Object.keys(instance.module).sort().join(",");
  },
  // One fresh instance ready for each version that has none: the worker asks for it
  // when a call took the last one, after answering.
  refill(given) {
    guard(given);
    for (const [key, { kind }] of versions) {
      if (kind === "machine" && !spares.has(key)) spares.set(key, instantiate(key));
    }
    sweep();
    return spares.size;
  },
  // Each call takes one JSON string of named fields (JSON.parse: a "__proto__" key in an
  // event stays a plain property, where an object literal in source would set a prototype).
  begin(given, entropy, requestJson) {
    guard(given);
    return withEntropy(entropy, () => {
      const { key, name, state, context, events, check, parent, replay } = JSON.parse(requestJson);
      const instance = instanceOf(key, name);
      const run = new Run(instance);
      run.parent = parent || null;
      run.replay = Boolean(replay);
      try {
        if (check !== null) {
          // allowWrite first, in this same call: a no (or a throw) and nothing runs.
          const refusal = refuses(run, instance.module.allowWrite, check);
          if (refusal !== null) {
            const logs = run.logs;
            run.close();
            return { refused: refusal, logs };
          }
        }
        if (state === null) {
          const base = run.machine.context && typeof run.machine.context === "object" ? run.machine.context : {};
          run.machine = ready(run.machine.withContext({ ...base, ...context }));
          run.within(() => {
            run.state = run.transition(() => run.machine.initialState);
            run.steps.push([{ type: "xstate.init" }, keep(run.state)]);
            run.perform(run.state);
          });
        } else {
          run.state = run.machine.resolveState({ ...state, context });
        }
        for (const event of events) run.queue.push({ event });
        run.drain();
      } catch (error) {
        const logs = run.logs;
        run.close();
        return { failure: errorText(error), logs };
      }
      // Settled already (no service running): the run's answer at once, saving a call.
      const summary = run.summary();
      return summary.running ? summary : { ...summary, answer: run.finish() };
    });
  },
  settled(given, id) {
    guard(given);
    const run = runs.get(id);
    return run ? run.settled() : Promise.resolve();
  },
  finish(given, entropy, id) {
    guard(given);
    return withEntropy(entropy, () => {
      const run = runs.get(id);
      if (!run) throw new Error(`no run ${id}`);
      return run.finish();
    });
  },
  authorize(given, entropy, requestJson) {
    guard(given);
    return withEntropy(entropy, () => {
      const { key, name, kind, request } = JSON.parse(requestJson);
      const instance = instanceOf(key, name);
      // Synchronous: a run of this instance that is settling gets its module back after.
      const settling = instance.holder.run;
      const run = new Run(instance);
      try {
        return asks(run, kind === "read" ? instance.module.allowRead : instance.module.allowWrite, request);
      } finally {
        run.close();
        instance.holder.run = settling;
      }
    });
  },
  // The machine's definition, for a drawn chart: its states (each with its key in state
  // values, type, initial child, tags, invocations) and transitions (event, targets by
  // id, guard name, delay in ms, eventless), as plain JSON.
  definition(given, entropy, key) {
    guard(given);
    return withEntropy(entropy, () => {
      const { machine } = instantiate(key);
      try {
        const guardName = (cond) => {
          if (!cond) return null;
          if (typeof cond === "string") return cond;
          const name = cond.name || cond.type || "";
          return name && name !== "xstate.guard" ? String(name) : "guard";
        };
        const node = (state) => ({
          id: state.id,
          key: state.key,
          type: state.type,
          initial: state.initial === undefined ? null : String(state.initial),
          tags: [...(state.tags || [])].map(String),
          invokes: (state.invoke || []).map((i) => String(i.id || (i.src && i.src.type) || i.src)),
          transitions: (state.transitions || [])
            .filter((t) => t.source === state)
            .map((t) => {
              const type = String(t.eventType || "");
              const after = /^xstate\.after\(([^)]*)\)/.exec(type);
              const delay = after ? (/^\d+$/.test(after[1]) ? Number(after[1]) : after[1]) : null;
              return {
                event: after ? null : type || null,
                targets: (t.target || []).map((target) => target.id),
                guard: guardName(t.cond),
                delay, // ms, or the name of a configured delay
                always: type === "",
              };
            }),
          states: Object.keys(state.states || {}).map((k) => node(state.states[k])),
        });
        return { id: machine.id, root: node(machine) };
      } finally {
        sweep();
      }
    });
  },
  // A state of this version at `value` with `context` (a copy of an instance made
  // elsewhere): what resolveState makes of it, as the server keeps states. Nothing runs
  // (no entry action, no service), as when an instance is migrated.
  resolve(given, entropy, requestJson) {
    guard(given);
    return withEntropy(entropy, () => {
      const { key, value, context } = JSON.parse(requestJson);
      const { machine } = instantiate(key);
      try {
        for (const path of paths(value)) machine.getStateNodeByPath(path); // throws on a bad one
        return keep(placed(machine, machine.initialState, value, context));
      } finally {
        sweep();
      }
    });
  },
  migrate(given, entropy, requestJson) {
    guard(given);
    return withEntropy(entropy, () => {
      const { migration, to, state: old, context } = JSON.parse(requestJson);
      const { module } = instantiate(migration);
      const { machine } = instantiate(to);
      try {
        const oldPaths = paths(old.value);
        const newPaths = oldPaths.map((path) =>
          typeof module.upgradeState === "function" ? module.upgradeState([...path], context) : path,
        );
        const newContext = typeof module.upgradeContext === "function"
          ? module.upgradeContext(oldPaths, newPaths, context)
          : context;
        for (const path of newPaths) machine.getStateNodeByPath(path); // throws on a bad path
        return keep(placed(machine, old, valueOf(newPaths), newContext));
      } finally {
        sweep();
      }
    });
  },
};
// mini-racer's own timers (and Atomics.waitAsync, which they are made of) run on V8's
// threads, uncounted and outliving the run: machine code gets ours only.
__TimerManager = undefined; // eslint-disable-line no-global-assign
Object.defineProperty(globalThis, "__timer_manager", { value: undefined, writable: false });
delete Atomics.waitAsync;
Object.defineProperty(globalThis, "__smb", { value: Object.freeze(api) });
Object.defineProperty(globalThis, "__statebacked_rt", { value: statebackedRuntime });
baseline = new Set(Reflect.ownKeys(globalThis));

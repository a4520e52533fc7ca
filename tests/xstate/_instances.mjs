// (Named _*: not a machine module.) The reference for events between persistent instances
// in tests/local/test_xstate_differential.py: each instance is XState's own interpreter in
// node, and this script plays what State Backed's runtime adds (after @statebacked/machine's
// docs): a send to a `statebacked.instance` ref (or to the local id one was spawned under,
// or sendParent from a spawned instance) is delivered once the sender's event has settled,
// to the named instance, made first if missing; spawnPersistentInstance makes one.
//
// argv: {modules: {machineName: path}, steps: [{machine, instance, context} (create) or
// {machine, instance, event}], watch: [[machine, instance], ...]}. Prints, after each step,
// whether it failed and the watched instances' views (null while one does not exist).
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { interpret } from "xstate";

const { modules, steps, watch } = JSON.parse(process.argv[2]);
const machines = {};
for (const [name, path] of Object.entries(modules)) {
  machines[name] = (await import(pathToFileURL(path).href)).default;
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
const keyOf = (machine, instance) => `${machine}\n${instance}`;
const instances = new Map(); // key -> { service, parent }
const outbox = []; // { spawn: {machineName, machineInstanceName, context}, parent } or { to, event, from }
let acting = null; // the key of the instance whose code runs now

const isRef = (value) => value && typeof value === "object" && value.type === "statebacked.instance";
const refIn = (context, id) => {
  if (!context || typeof context !== "object") return null;
  if (isRef(context) && context.id === id) return context;
  for (const value of Object.values(context)) {
    const found = refIn(value, id);
    if (found) return found;
  }
  return null;
};

globalThis.__statebacked_rt = {
  spawn(descriptor, options = {}) {
    const ref = {
      type: "statebacked.instance",
      id: options.name ?? randomUUID(),
      machineName: descriptor.machineName,
      machineInstanceName: descriptor.machineInstanceName ?? randomUUID(),
    };
    outbox.push({ spawn: { ...ref, context: options.context ?? {} }, parent: acting });
    return ref;
  },
};

const create = (machine, instance, context, parent = null) => {
  const key = keyOf(machine, instance);
  if (instances.has(key)) return;
  const definition = machines[machine];
  const base = definition.context && typeof definition.context === "object" ? definition.context : {};
  const service = interpret(definition.withContext({ ...base, ...context }));
  const native = service.sendTo;
  service.sendTo = (event, to, immediate) => {
    const parentKey = instances.get(key).parent;
    const ref = isRef(to)
      ? to
      : typeof to === "string" && !service.children.has(to)
        ? to === "#_parent" && parentKey
          ? { machineName: parentKey.split("\n")[0], machineInstanceName: parentKey.split("\n")[1] }
          : refIn(service.state.context, to)
        : null;
    if (!ref) return native(event, to, immediate);
    outbox.push({ to: keyOf(ref.machineName, ref.machineInstanceName), event: event.data, from: key });
  };
  instances.set(key, { service, parent });
  acting = key;
  try {
    service.start();
  } finally {
    acting = null;
  }
};

const deliver = async () => {
  while (outbox.length) {
    const item = outbox.shift();
    if (item.spawn) {
      const { machineName, machineInstanceName, context } = item.spawn;
      create(machineName, machineInstanceName, context, item.parent);
    } else {
      const [machine, instance] = item.to.split("\n");
      create(machine, instance, {});
      acting = item.to;
      try {
        instances.get(item.to).service.send(item.event);
      } finally {
        acting = null;
      }
    }
    await settle();
  }
};

const view = ([machine, instance]) => {
  const found = instances.get(keyOf(machine, instance));
  if (!found) return null;
  const state = found.service.getSnapshot();
  return { value: state.value, context: state.context, done: state.done };
};

const results = [];
for (const step of steps) {
  let failed = false;
  if ("event" in step) {
    acting = keyOf(step.machine, step.instance);
    try {
      instances.get(acting).service.send(step.event);
    } catch (error) {
      failed = true;
    } finally {
      acting = null;
    }
  } else {
    create(step.machine, step.instance, step.context);
  }
  await settle();
  await deliver();
  results.push({ failed, views: watch.map(view) });
}
for (const { service } of instances.values()) service.stop();
console.log(JSON.stringify(results));

// What @statebacked/machine's runtime helpers (src/rt.ts) are, so that the test machines
// use them as State Backed users do, without installing the package: a persistent sendTo
// is a plain `xstate.send` action whose `to` is a `statebacked.instance` reference, and
// spawnPersistentInstance asks the runtime (`__statebacked_rt`) when it has one.
export type PersistentActorRef = {
  type: "statebacked.instance";
  id: string;
  machineName: string;
  machineInstanceName: string;
};

export const spawnPersistentInstance = (
  descriptor: { machineName: string; machineInstanceName?: string; machineVersionId?: string },
  opts?: { context?: Record<string, unknown>; name?: string },
): PersistentActorRef => {
  const runtime = (globalThis as any)?.__statebacked_rt;
  if (typeof runtime?.spawn === "function") return runtime.spawn(descriptor, opts);
  return {
    ...descriptor,
    type: "statebacked.instance",
    id: opts?.name ?? crypto.randomUUID(),
    machineInstanceName: descriptor.machineInstanceName ?? crypto.randomUUID(),
  };
};

export const sendTo = (actor: any, event: any, opts?: { delay?: number; id?: string }) => ({
  type: "xstate.send",
  to: actor,
  event: typeof event === "function" ? event : () => event,
  delay: opts?.delay,
  id: opts?.id,
});

export const persistentInvocableSource = (descriptor: {
  machineName: string;
  machineInstanceName?: string;
  machineVersionId?: string;
}) => ({
  type: "statebacked.invoke",
  machineName: descriptor.machineName,
  machineInstanceName: descriptor.machineInstanceName ?? crypto.randomUUID(),
  machineVersionId: descriptor.machineVersionId,
});

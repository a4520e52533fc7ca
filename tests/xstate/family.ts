// A parent that spawns a persistent child (State Backed's docs' example): it greets the
// child by reference and by the local id it was spawned under, and hears back through the
// child's sendParent.
import { assign, createMachine } from "xstate";
import { persistentInvocableSource, sendTo, spawnPersistentInstance } from "./_statebacked_machine";

type Context = { kid: unknown; heard: number };

export default createMachine<Context>({
  id: "family",
  predictableActionArguments: true,
  initial: "idle",
  context: { kid: null, heard: 0 },
  states: {
    idle: { on: { run: "running", invite: "hosting" } },
    hosting: {
      // A persistent instance invoked, as the docs' persistentInvocableSource example.
      invoke: {
        id: "guest",
        src: persistentInvocableSource({ machineName: "kid", machineInstanceName: "invited-guest" }) as any,
        data: () => ({ public: { nickname: "guest", greeted: 0 } }),
      },
      entry: sendTo("guest", { type: "hiFromParent" }),
      on: {
        childSaysHi: { actions: assign({ heard: (context) => context.heard + 1 }) },
        again: { actions: sendTo("guest", { type: "hiFromParent" }) },
      },
    },
    running: {
      entry: [
        assign({
          kid: () =>
            spawnPersistentInstance(
              { machineName: "kid" },
              { name: "kid", context: { public: { nickname: "sprout", greeted: 0 } } },
            ),
        }),
        sendTo((context: Context) => context.kid, { type: "hiFromParent" }),
      ],
      on: {
        childSaysHi: { actions: assign({ heard: (context) => context.heard + 1 }) },
        again: { actions: sendTo("kid", { type: "hiFromParent" }) },
        later: { actions: sendTo("kid", { type: "hiFromParent" }, { delay: 200, id: "later" }) },
      },
    },
  },
});

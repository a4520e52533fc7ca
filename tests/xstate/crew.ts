// Ephemeral actors, as XState's own examples use them: machines, promises, callbacks and
// observables spawned in an assign or invoked, talking to their parent within one event.
// (State Backed runs these only while the event that started them is processed.)
import { assign, createMachine, send, sendParent, spawn } from "xstate";

type Context = { done: number[]; heard: string[]; worker: any; result: unknown };

// A worker machine: doubles each job it is given to its parent, and ends on `quit` with
// the count as its done data.
const worker = createMachine<{ jobs: number; base: number }>({
  id: "worker",
  predictableActionArguments: true,
  initial: "ready",
  context: { jobs: 0, base: 0 },
  states: {
    ready: {
      entry: sendParent((context) => ({ type: "hello", from: `worker@${context.base}` })),
      on: {
        job: {
          actions: [
            assign({ jobs: (context) => context.jobs + 1 }),
            sendParent((context, event: any) => ({ type: "finished", n: context.base + event.n * 2 })),
          ],
        },
        later: { actions: send({ type: "job", n: 50 }, { delay: 20 }) },
        quit: "gone",
      },
    },
    gone: { type: "final", data: (context) => ({ jobs: context.jobs }) },
  },
});

const heard = (what: (event: any) => string) =>
  assign<Context, any>({ heard: (context, event) => [...context.heard, what(event)] });

export default createMachine<Context>({
  id: "crew",
  predictableActionArguments: true,
  initial: "idle",
  context: { done: [], heard: [], worker: null, result: null },
  on: {
    hello: { actions: heard((event) => `hello ${event.from}`) },
    finished: { actions: assign({ done: (context, event: any) => [...context.done, event.n] }) },
  },
  states: {
    idle: {
      on: {
        // Spawn a machine, give it two jobs, then let it end: all within this event.
        hire: {
          actions: [
            assign({ worker: () => spawn(worker, "w1") }),
            send({ type: "job", n: 1 }, { to: (context: Context) => context.worker }),
            send({ type: "job", n: 2 }, { to: "w1" }),
            send({ type: "quit" }, { to: (context: Context) => context.worker }),
          ],
        },
        "done.invoke.w1": { actions: [assign({ result: (_, event: any) => event.data }), heard(() => "w1 done")] },
        // A delayed send inside the child, within the event.
        hireSlow: {
          actions: [
            assign({ worker: () => spawn(worker, "w2") }),
            send({ type: "later" }, { to: "w2" }),
          ],
        },
        // A send to the ref spawned by an earlier event: that actor is gone.
        poke: { actions: send({ type: "job", n: 9 }, { to: (context: Context) => context.worker }) },
        promise: { actions: assign({ worker: () => spawn(Promise.resolve({ paid: 3 }), "pay") }) },
        "done.invoke.pay": { actions: assign({ result: (_, event: any) => event.data }) },
        callback: {
          actions: [
            assign({
              worker: () =>
                spawn((sendBack: any, onReceive: any) => {
                  onReceive((event: any) => sendBack({ type: "hello", from: `callback ${event.word}` }));
                }, "cb"),
            }),
            send({ type: "say", word: "hi" }, { to: "cb" }),
          ],
        },
        observe: {
          actions: assign({
            worker: () =>
              spawn(
                {
                  subscribe(next: any, _error: any, complete: any) {
                    [1, 2].forEach((n) => next({ type: "finished", n }));
                    complete();
                    return { unsubscribe() {} };
                  },
                } as any,
                "obs",
              ),
          }),
        },
        delegate: "delegating",
      },
    },
    // An invoked machine, its context from the invocation's data; its done data on onDone.
    delegating: {
      invoke: {
        id: "helper",
        src: worker,
        data: { jobs: 0, base: 100 },
        onDone: { target: "idle", actions: assign({ result: (_, event: any) => event.data }) },
      },
      entry: [send({ type: "job", n: 5 }, { to: "helper" }), send({ type: "quit" }, { to: "helper" })],
    },
  },
});

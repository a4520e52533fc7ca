// Machine code as an attacker (or a careless author) writes it: runaway loops, timer
// floods, module state, late log lines, names no header can carry. Every event either
// settles or is cut; none may hurt another instance, another machine or the server.
import { assign, createMachine } from "xstate";

type Context = { public: { [key: string]: unknown } };

const note = (values: (context: Context, event: any) => { [key: string]: unknown }) =>
  assign<Context, any>({ public: (context, event) => ({ ...context.public, ...values(context, event) }) });

// Module-level state: on State Backed each run is fresh, so an instance never sees
// what another instance's run left here.
let previous: string | null = null;

export default createMachine<Context>(
  {
    id: "hostile",
    predictableActionArguments: true,
    initial: "idle",
    context: { public: {} },
    states: {
      idle: {
        on: {
          runaway: { actions: "runaway" },
          microtasks: { actions: "microtasks" },
          spinAfter: { actions: "spinAfter" },
          timerFlood: { actions: "timerFlood" },
          remember: { actions: "remember" },
          hello: { actions: note(() => ({ hello: true })) },
          shout: { actions: "shout" },
          lateLog: "logging",
          stall: "stalled",
          slow: "slow",
        },
      },
      logging: {
        invoke: {
          src: (_, event: any) =>
            new Promise((resolve) =>
              setTimeout(() => {
                console.log(`late line of ${event.name}`);
                resolve(event.name);
              }, event.ms),
            ),
          onDone: "idle",
        },
      },
      stalled: {
        invoke: { id: "go→ café", src: () => new Promise(() => {}) },
        on: { back: "idle" },
      },
      slow: {
        invoke: {
          src: () => new Promise((resolve) => setTimeout(resolve, 3000)),
          onDone: "idle",
        },
      },
    },
  },
  {
    actions: {
      runaway: () => {
        setTimeout(() => {}, 10);
        for (;;) {}
      },
      microtasks: () => {
        const again = (): Promise<void> => Promise.resolve().then(again);
        again();
      },
      spinAfter: () => {
        setTimeout(() => {
          for (;;) {}
        }, 20);
      },
      shout: (_, event: any) => {
        for (let i = 0; i < (event.lines ?? 1); i++) console.log("x".repeat(event.size ?? 1));
      },
      timerFlood: () => {
        for (let i = 0; i < 30000; i++) setTimeout(() => {}, 1);
      },
      remember: assign<Context, any>({
        public: (context, event) => {
          const seen = previous;
          previous = event.name;
          return { ...context.public, previous: seen };
        },
      }),
    },
  },
);

// A machine module as a State Backed user writes one: XState v4, built with esbuild as
// `smply` builds it (tests/local/test_xstate_modules.py does the build).
import { assign, createMachine } from "xstate";

type Public = { opened: number; note?: string; left?: number; kicks?: number };
type Context = { public: Public; secret: string };

export default createMachine<Context>(
  {
    id: "door",
    predictableActionArguments: true,
    initial: "closed",
    context: { public: { opened: 0 }, secret: "hinge-code" },
    states: {
      closed: {
        exit: "leave",
        on: {
          open: { target: "open", actions: ["count", "say"] },
          lock: "locked",
          explode: { actions: "boom" },
          smash: "broken",
          kick: "kicked",
        },
      },
      kicked: {
        entry: "bruise",
        always: [{ target: "broken", cond: "wornOut" }, { target: "closed" }],
      },
      open: {
        tags: ["open"],
        after: { 300: "closed" },
        on: { close: "closed" },
      },
      locked: {
        tags: ["locked"],
        on: { unlock: { target: "closed", cond: "rightCode" } },
      },
      broken: { type: "final" },
    },
  },
  {
    actions: {
      count: assign({
        public: (context) => ({ ...context.public, opened: context.public.opened + 1 }),
      }),
      say: (context) => {
        console.log("opened", context.public.opened, "times");
        console.error("a draught");
      },
      leave: assign({
        public: (context) => ({ ...context.public, left: (context.public.left ?? 0) + 1 }),
      }),
      bruise: assign({
        public: (context) => ({ ...context.public, kicks: (context.public.kicks ?? 0) + 1 }),
      }),
      boom: () => {
        throw new Error("the hinge gave way");
      },
    },
    guards: {
      rightCode: (context, event: any) => event.code === context.secret,
      wornOut: (context) => (context.public.kicks ?? 0) >= 3,
    },
  },
);

export const allowWrite = ({ authContext }: { authContext: { sub?: string } }) => {
  console.log(`allowWrite asked by ${authContext.sub}`);
  if (authContext.sub === "vandal") throw new Error("the authorizer broke");
  return authContext.sub !== undefined && authContext.sub !== "intruder";
};

export const allowRead = ({ authContext }: { authContext: { sub?: string } }) => {
  if (authContext.sub === "breaker") throw new Error("the reader broke");
  return authContext.sub !== "stranger";
};

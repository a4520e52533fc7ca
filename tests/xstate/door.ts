// A machine module as a State Backed user writes one: XState v4, built with esbuild as
// `smply` builds it (tests/local/test_xstate_modules.py does the build).
import { assign, createMachine } from "xstate";

type Context = { public: { opened: number; note?: string }; secret: string };

export default createMachine<Context>(
  {
    id: "door",
    predictableActionArguments: true,
    initial: "closed",
    context: { public: { opened: 0 }, secret: "hinge-code" },
    states: {
      closed: {
        on: {
          open: { target: "open", actions: ["count", "say"] },
          lock: "locked",
          explode: { actions: "boom" },
          smash: "broken",
        },
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
      boom: () => {
        throw new Error("the hinge gave way");
      },
    },
    guards: {
      rightCode: (context, event: any) => event.code === context.secret,
    },
  },
);

export const allowWrite = ({ authContext }: { authContext: { sub?: string } }) =>
  authContext.sub !== undefined && authContext.sub !== "intruder";

export const allowRead = ({ authContext }: { authContext: { sub?: string } }) =>
  authContext.sub !== "stranger";

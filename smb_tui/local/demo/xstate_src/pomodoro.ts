// A focus timer: delayed transitions the server fires on its own (watch them arrive in
// the history), a counter in the public context and a log line per finished round.
import { assign, createMachine } from "xstate";

type Context = { public: { rounds: number; focusSeconds: number } };

export default createMachine<Context>(
  {
    id: "pomodoro",
    predictableActionArguments: true,
    initial: "idle",
    context: { public: { rounds: 0, focusSeconds: 25 } },
    states: {
      idle: { on: { start: "focus" } },
      focus: {
        tags: ["busy"],
        after: { focusTime: { target: "rest", actions: "finishRound" } },
        on: { stop: "idle", interrupt: "idle" },
      },
      rest: {
        after: { 5000: "idle" },
        on: { start: "focus", stop: "idle" },
      },
    },
  },
  {
    delays: { focusTime: (context) => context.public.focusSeconds * 1000 },
    actions: {
      finishRound: assign({
        public: (context) => {
          console.log(`round ${context.public.rounds + 1} done`);
          return { ...context.public, rounds: context.public.rounds + 1 };
        },
      }),
    },
  },
);

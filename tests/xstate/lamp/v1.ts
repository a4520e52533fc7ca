// Version 1 of a machine with a migration to version 2 (see machine.json).
import { assign, createMachine } from "xstate";

export default createMachine<{ public: { flips: number } }>(
  {
    id: "lamp",
    predictableActionArguments: true,
    initial: "off",
    context: { public: { flips: 0 } },
    states: {
      off: { on: { flip: { target: "on", actions: "count" } } },
      on: { on: { flip: { target: "off", actions: "count" } } },
    },
  },
  { actions: { count: assign({ public: (c) => ({ flips: c.public.flips + 1 }) }) } },
);

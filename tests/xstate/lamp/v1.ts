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

// v1 knows only `flip` (and creating an instance): an event of a later version is not its
// to allow. The event that upgrades an instance is judged by the version it is delivered to
// (v2), not by this one.
export const allowWrite = ({ event }: { event?: { type: string } | null }) =>
  !event || event.type === "flip";

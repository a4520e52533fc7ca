// Version 2: the states are renamed, the count moves, and a dimmer state appears.
import { assign, createMachine } from "xstate";

type Context = { public: { switched: number; migrated: boolean } };

export default createMachine<Context>(
  {
    id: "lamp",
    predictableActionArguments: true,
    initial: "dark",
    context: { public: { switched: 0, migrated: false } },
    states: {
      dark: { on: { flip: { target: "lit", actions: "count" } } },
      lit: {
        initial: "bright",
        states: { bright: { on: { dim: "dimmed" } }, dimmed: {} },
        on: { flip: { target: "dark", actions: "count" } },
      },
    },
  },
  {
    actions: {
      count: assign({ public: (c) => ({ ...c.public, switched: c.public.switched + 1 }) }),
    },
  },
);

// Judges events on v2's own context: the migrated one when an event upgrades an instance
// (one still in v1's shape, with `flips`, is not v2's to judge).
export const allowWrite = ({ context }: { context: { public?: object } }) =>
  !("flips" in (context.public ?? {}));

// A persistent child: it says hi to the instance that spawned it, and takes events from
// its parent's machine only.
import { assign, createMachine, sendParent } from "xstate";

type Context = { public: { nickname?: string; greeted: number } };
type AuthContext = { sub?: string; stateBackedSender?: { machineName: string } };

export const allowWrite = ({ authContext }: { authContext: AuthContext }) =>
  authContext.stateBackedSender?.machineName === "family";

export default createMachine<Context>({
  id: "kid",
  predictableActionArguments: true,
  initial: "start",
  context: { public: { greeted: 0 } },
  states: {
    start: {
      entry: sendParent({ type: "childSaysHi" }),
      on: {
        hiFromParent: {
          actions: assign({
            public: (context) => ({ ...context.public, greeted: (context.public.greeted ?? 0) + 1 }),
          }),
        },
      },
    },
  },
});

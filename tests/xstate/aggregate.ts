// The aggregate of every rating of one item: only raters may add to it.
import { assign, createMachine } from "xstate";

type Context = { totalRating: number; count: number };
type AuthContext = { sub?: string; stateBackedSender?: { machineName: string } };

export const allowWrite = ({ authContext }: { authContext: AuthContext }) =>
  authContext.stateBackedSender?.machineName === "rater";

export default createMachine<Context>({
  id: "aggregate",
  predictableActionArguments: true,
  initial: "aggregating",
  context: { totalRating: 0, count: 0 },
  states: {
    aggregating: {
      on: {
        addToRating: {
          actions: assign({
            totalRating: (context, event: any) => context.totalRating + event.rating,
            count: (context, event: any) => context.count + event.count,
          }),
        },
      },
    },
  },
});

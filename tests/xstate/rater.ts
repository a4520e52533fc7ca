// One rater's rating of an item (after State Backed's headless rating component): each
// rating is sent to the item's aggregate, an instance of another machine, made if missing.
import { assign, createMachine } from "xstate";
import { sendTo } from "./_statebacked_machine";

type Context = { item: string; rating: number };

const aggregateOf = (context: Context) => ({
  type: "statebacked.instance",
  id: "aggregate",
  machineName: "aggregate",
  machineInstanceName: context.item,
});

export default createMachine<Context>({
  id: "rater",
  predictableActionArguments: true,
  initial: "idle",
  context: { item: "", rating: 0 },
  states: {
    idle: {
      on: {
        rate: {
          actions: [
            assign({ rating: (_, event: any) => event.rating }),
            sendTo(aggregateOf, (_: Context, event: any) => ({
              type: "addToRating",
              rating: event.rating,
              count: 1,
            })),
          ],
        },
        rateNowhere: {
          actions: sendTo(
            { type: "statebacked.instance", id: "x", machineName: "nowhere", machineInstanceName: "x" },
            { type: "addToRating", rating: 1, count: 1 },
          ),
        },
      },
    },
  },
});

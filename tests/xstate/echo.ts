// Two instances that answer each other's every ping: a loop between instances, which the
// local server cuts after a number of hops.
import { assign, createMachine } from "xstate";
import { sendTo } from "./_statebacked_machine";

type Context = { peer: string; pings: number };

export default createMachine<Context>({
  id: "echo",
  predictableActionArguments: true,
  initial: "answering",
  context: { peer: "", pings: 0 },
  states: {
    answering: {
      on: {
        ping: {
          actions: [
            assign({ pings: (context) => context.pings + 1 }),
            sendTo(
              (context: Context) => ({
                type: "statebacked.instance",
                id: "peer",
                machineName: "echo",
                machineInstanceName: context.peer,
              }),
              { type: "ping" },
            ),
          ],
        },
      },
    },
  },
});

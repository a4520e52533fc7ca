// Sends the two events it is told to, to the two courier instances it is told (tests of
// delivery between instances); as a receiver, naps (a promise of `ms`) or marks itself.
import { assign, createMachine } from "xstate";
import { sendTo } from "./_statebacked_machine";

type Context = { public: { marked: boolean } };

const courier = (which: "first" | "second") => (_: Context, event: any) => ({
  type: "statebacked.instance",
  id: which,
  machineName: "courier",
  machineInstanceName: event[which].instance,
});

export default createMachine<Context>({
  id: "courier",
  predictableActionArguments: true,
  initial: "ready",
  context: { public: { marked: false } },
  states: {
    ready: {
      on: {
        dispatch: {
          actions: [
            sendTo(courier("first"), (_: Context, event: any) => event.first.event),
            sendTo(courier("second"), (_: Context, event: any) => event.second.event),
          ],
        },
        nap: "napping",
        mark: { actions: assign<Context, any>({ public: () => ({ marked: true }) }) },
      },
    },
    napping: {
      invoke: {
        src: (_, event: any) => new Promise((resolve) => setTimeout(resolve, event.ms)),
        onDone: "ready",
      },
    },
  },
});

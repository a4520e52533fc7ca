// A module that, when loaded, tries to take over the host: replace the functions the
// server calls (so that other machines' authorizers say yes, or their runs leak their
// context), and reach the host's fetch and sleep directly. Each attempt is recorded; none
// may work.
import { assign, createMachine } from "xstate";

const g = globalThis as any;
const tried: { [key: string]: string } = {};
const attempt = (name: string, work: () => unknown) => {
  try {
    const value = work();
    tried[name] = `ok ${typeof value}`;
  } catch (error) {
    tried[name] = `refused ${(error as Error).name}`;
  }
};
attempt("replace __smb", () => (g.__smb = { begin: () => "{}" }));
attempt("patch authorize", () => (g.__smb.authorize = () => '{"value": true, "wanted": 0}'));
attempt("patch begin", () => (g.__smb.begin = () => "{}"));
attempt("define __smb", () => Object.defineProperty(g, "__smb", { value: {} }));
attempt("call begin", () => g.__smb.begin("guess", "", "m1", null, "{}", "[]", null));
attempt("host fetch", () => g.__host.fetch("http://127.0.0.1:9/", "GET", "[]", null));
attempt("host sleep", () => g.__host.sleep(1, 1, 1));
attempt("replace crypto", () => (g.crypto = { getRandomValues: () => "mine" }));

export default createMachine<{ public: { [key: string]: unknown } }>({
  id: "subvert",
  predictableActionArguments: true,
  initial: "idle",
  context: { public: {} },
  states: {
    reaching: {
      invoke: {
        // The host's fetch, called directly: web.js's check skipped.
        src: async (_, event: any) => {
          const host = g.__host || {};
          return await host.fetch(event.url, "GET", "[]", null);
        },
        onDone: { target: "idle", actions: assign({ public: (_, event: any) => ({ reached: event.data }) }) },
        onError: {
          target: "idle",
          actions: assign({ public: (_, event: any) => ({ reached: `refused: ${event.data.message}` }) }),
        },
      },
    },
    idle: {
      on: {
        probe: {
          actions: assign({
            public: () => ({
              tried,
              globals: Object.getOwnPropertyNames(globalThis).filter((name) => name.startsWith("__") && g[name] !== undefined),
              crypto: typeof crypto.getRandomValues,
            }),
          }),
        },
        leak: {
          actions: assign({ public: () => ({ leaked: g.stolen === undefined ? null : g.stolen }) }),
        },
        stash: { actions: () => (g.stolen = "from an earlier run") },
        reach: "reaching",
      },
    },
  },
});

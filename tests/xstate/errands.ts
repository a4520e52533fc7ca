// Invoked services, the web APIs and the limits, as machine code uses them
// (tests/local/test_xstate_modules.py builds it with esbuild as `smply` does).
import { assign, createMachine, send } from "xstate";

type Public = { [key: string]: unknown; ticks: number };
type Context = { public: Public };

const note = (values: (context: Context, event: any) => Partial<Public>) =>
  assign<Context, any>({ public: (context, event) => ({ ...context.public, ...values(context, event) }) });

const hex = (buffer: ArrayBuffer) =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

export default createMachine<Context>(
  {
    id: "errands",
    predictableActionArguments: true,
    initial: "idle",
    context: { public: { ticks: 0 } },
    states: {
      idle: {
        on: {
          wait: "waiting",
          time: "timing",
          fail: "failing",
          hang: "hanging",
          listen: "listening",
          digest: "digesting",
          fetchIt: "fetching",
          spinLater: "spinningLater",
          orphan: "orphaned",
          web: { actions: "web" },
          hosts: {
            actions: note((_, event) => ({
              ascii: event.hosts.map((host: string) => new URL(`https://${host}/`).hostname),
            })),
          },
          spin: { actions: "spin" },
          hog: { actions: "hog" },
          later: { actions: send({ type: "ring", loud: true }, { delay: 200, id: "bell" }) },
          ring: { actions: note((_, event) => ({ rang: event.loud })) },
        },
      },
      waiting: {
        invoke: {
          src: (_, event: any) =>
            new Promise((resolve) => setTimeout(() => resolve({ waited: event.ms }), event.ms)),
          onDone: { target: "idle", actions: note((_, event) => ({ result: event.data })) },
        },
      },
      timing: {
        invoke: {
          src: () =>
            new Promise((resolve) => {
              const fired: string[] = [];
              const dropped = setTimeout(() => fired.push("dropped"), 20);
              const distant = setTimeout(() => fired.push("distant"), 3_600_000);
              setTimeout((a: string, b: string) => fired.push(a + b), 10, "with ", "arguments");
              clearTimeout(dropped);
              clearTimeout(distant);
              setTimeout(() => resolve(fired), 80);
            }),
          onDone: { target: "idle", actions: note((_, event) => ({ fired: event.data })) },
        },
      },
      failing: {
        invoke: {
          id: "flaky",
          src: () => Promise.reject(new Error("no luck")),
          onError: { target: "idle", actions: note((_, event) => ({ error: event.data.message })) },
        },
      },
      hanging: {
        invoke: {
          id: "forever",
          src: () => new Promise(() => {}),
          onError: { target: "idle", actions: note((_, event) => ({ error: event.data.message })) },
        },
        on: { giveUp: "idle" },
      },
      listening: {
        invoke: {
          id: "ticker",
          src: () => (sendBack, receive) => {
            let count = 0;
            let handle: ReturnType<typeof setTimeout>;
            const tick = () => {
              sendBack({ type: "tick" });
              count += 1;
              if (count < 3) handle = setTimeout(tick, 10);
            };
            handle = setTimeout(tick, 10);
            receive((event) => {
              if (event.type === "ping") sendBack({ type: "pong" });
            });
            return () => clearTimeout(handle);
          },
        },
        entry: send({ type: "ping" }, { to: "ticker" }),
        on: {
          tick: [
            { cond: (context) => context.public.ticks >= 2, target: "idle", actions: "tick" },
            { actions: "tick" },
          ],
          pong: { actions: note(() => ({ ponged: true })) },
        },
      },
      digesting: {
        invoke: {
          src: async () => hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"))),
          onDone: { target: "idle", actions: note((_, event) => ({ digest: event.data })) },
        },
      },
      fetching: {
        invoke: {
          src: async (_, event: any) => {
            const response = await fetch(event.url);
            return { status: response.status, kind: (await response.json()).openapi ? "openapi" : "?" };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ fetched: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ error: event.data.message })) },
        },
      },
      spinningLater: {
        invoke: {
          src: () =>
            Promise.resolve().then(() => {
              for (;;) {}
            }),
          onDone: "idle",
        },
      },
      orphaned: {
        invoke: { id: "lost", src: () => Promise.reject(new Error("nobody listens")) },
        on: { back: "idle" },
      },
    },
  },
  {
    actions: {
      tick: note((context) => ({ ticks: context.public.ticks + 1 })),
      web: note(() => ({
        uuid: crypto.randomUUID(),
        random: crypto.getRandomValues(new Uint8Array(8)).length,
        url: new URL("../b?x=1 2#h", "https://Example.com:443/a/c").href,
        host: new URL("http://user:pw@localhost:8080/p").host,
        idn: new URL("https://Bücher.example/").hostname,
        query: new URL("https://e.com/?a=1&b=x+y").searchParams.get("b"),
        params: new URLSearchParams({ a: "1", b: "x y&" }).toString(),
        text: new TextDecoder().decode(new TextEncoder().encode("héllo ✓ 😀")),
        bytes: new TextEncoder().encode("✓").length,
        b64: btoa("hi!"),
        unb64: atob("aGkh"),
      })),
      spin: () => {
        for (;;) {}
      },
      hog: () => {
        const hoard: number[][] = [];
        for (;;) hoard.push(new Array(1_000_000).fill(1.5));
      },
    },
  },
);

// The authorizers say yes only to the arguments @statebacked/machine's types give them,
// so every errands test also checks those shapes.
const WRITE_KEYS: Record<string, string> = {
  initialization: "authContext,context,machineInstanceName,type",
  event: "authContext,context,event,machineInstanceName,state,type",
};
export const allowWrite = (request: any) =>
  Object.keys(request).sort().join(",") === WRITE_KEYS[request.type] &&
  typeof request.authContext.sub === "string" &&
  (request.type === "initialization" || typeof request.event.type === "string");
export const allowRead = (request: any) =>
  Object.keys(request).sort().join(",") === "authContext,context,machineInstanceName,state" &&
  request.state !== undefined;

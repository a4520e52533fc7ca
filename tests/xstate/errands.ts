// Invoked services, the web APIs and the limits, as machine code uses them
// (tests/local/test_xstate_modules.py builds it with esbuild as `smply` does).
import { assign, createMachine, send, sendParent } from "xstate";

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
          moreWeb: "webbing",
          bodies: "bodying",
          squeeze: "squeezing",
          inflate: "inflating",
          seal: "sealing",
          hosts: {
            actions: note((_, event) => ({
              ascii: event.hosts.map((host: string) => new URL(`https://${host}/`).hostname),
            })),
          },
          spin: { actions: "spin" },
          hog: { actions: "hog" },
          later: { actions: send({ type: "ring", loud: true }, { delay: 200, id: "bell" }) },
          ring: { actions: note((_, event) => ({ rang: event.loud })) },
          // XState's interpreter throws for both (no parent; no such child): the event fails.
          tellParent: { actions: [note(() => ({ told: true })), sendParent({ type: "hello" })] },
          tellNobody: { actions: [note(() => ({ told: true })), send({ type: "hi" }, { to: "ghost" })] },
          tellSelf: { actions: send({ type: "ring", loud: false }, { to: "#_internal" }) },
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
      webbing: {
        invoke: {
          src: async () => {
            const encode = (text: string) => new TextEncoder().encode(text);
            const message = encode("The quick brown fox jumps over the lazy dog");
            const usages: KeyUsage[] = ["sign", "verify"];
            const key = await crypto.subtle.importKey(
              "raw", encode("key"), { name: "HMAC", hash: "SHA-256" }, false, usages,
            );
            const mac = await crypto.subtle.sign("HMAC", key, message);
            // A key longer than the hash's block is hashed first (RFC 2104).
            const long = await crypto.subtle.importKey(
              "raw", new Uint8Array(200).fill(7), { name: "HMAC", hash: { name: "SHA-512" } }, true, ["sign"],
            );
            const longMac = await crypto.subtle.sign({ name: "HMAC" }, long, message);
            let refused = "";
            try {
              await crypto.subtle.verify("HMAC", long, longMac, message);
            } catch (error: any) {
              refused = error.name;
            }
            const original: any = { when: new Date(0), list: [1, { deep: true }], map: new Map([["a", 1]]) };
            original.bytes = new Uint8Array([1, 2]);
            original.self = original;
            const copy = structuredClone(original);
            let cloneError = "";
            try {
              structuredClone({ f: () => 1 });
            } catch (error: any) {
              cloneError = error.name;
            }
            const controller = new AbortController();
            let heard = "";
            controller.signal.addEventListener("abort", () => (heard = String(controller.signal.reason)));
            controller.abort("enough");
            const ticks = await new Promise<number>((resolve) => {
              let count = 0;
              const id = setInterval(() => {
                count += 1;
                if (count === 3) {
                  clearInterval(id);
                  setTimeout(() => resolve(count), 30); // no fourth tick after the clear
                }
              }, 5);
            });
            return {
              hmac: hex(mac),
              hmac512: hex(longMac),
              verified: await crypto.subtle.verify("HMAC", key, mac, message),
              forged: await crypto.subtle.verify("HMAC", key, new Uint8Array(32), message),
              refused,
              exported: hex(await crypto.subtle.exportKey("raw", long)).length,
              cloned:
                copy !== original && copy.list[1] !== original.list[1] && copy.list[1].deep &&
                copy.self === copy && copy.map.get("a") === 1 && copy.when.getTime() === 0 &&
                copy.bytes[1] === 2 && copy.bytes !== original.bytes,
              cloneError,
              aborted: controller.signal.aborted,
              heard,
              ticks,
              performance: typeof performance.now() === "number" && performance.now() >= 0,
            };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ more: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ failed: String(event.data?.message) })) },
        },
      },
      sealing: {
        invoke: {
          src: async () => {
            const encode = (text: string) => new TextEncoder().encode(text);
            const usages: KeyUsage[] = ["encrypt", "decrypt"];
            const key = await crypto.subtle.importKey("raw", new Uint8Array(32).fill(9), { name: "AES-GCM" }, true, usages);
            const iv = new Uint8Array(12).fill(1);
            const params = { name: "AES-GCM", iv, additionalData: encode("aad") };
            const sealed = await crypto.subtle.encrypt(params, key, encode("secret message"));
            const opened = new TextDecoder().decode(await crypto.subtle.decrypt(params, key, sealed));
            let tampered = "";
            try {
              const bad = new Uint8Array(sealed).slice(); // a copy: a view would change `sealed`
              bad[0] ^= 1;
              await crypto.subtle.decrypt(params, key, bad);
            } catch (error: any) {
              tampered = error.name;
            }
            const made = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt"]);
            const exported = new Uint8Array(await crypto.subtle.exportKey("raw", made as CryptoKey)).length;
            let wrongUsage = "";
            try {
              await crypto.subtle.decrypt(params, made as CryptoKey, sealed);
            } catch (error: any) {
              wrongUsage = error.name;
            }
            return { sealed: hex(sealed), opened, tampered, exported, wrongUsage };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ sealed: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ failed: String(event.data?.message) })) },
        },
      },
      inflating: {
        invoke: {
          src: async (_, event: any) => {
            const packed = Uint8Array.from(atob(event.gzip), (c) => c.charCodeAt(0));
            const opened = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
            return (await new Response(opened).arrayBuffer()).byteLength;
          },
          onDone: { target: "idle", actions: note((_, event) => ({ inflated: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ failed: String(event.data?.message) })) },
        },
      },
      squeezing: {
        invoke: {
          src: async () => {
            const text = "squeeze me ".repeat(200);
            const squeezed = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
            const packed = new Uint8Array(await new Response(squeezed).arrayBuffer());
            const opened = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
            const unpacked = await new Response(opened).text();
            const broken = new DecompressionStream("deflate");
            const writer = broken.writable.getWriter();
            writer.write(new Uint8Array([1, 2, 3]));
            writer.close();
            let corrupt = "";
            try {
              await new Response(broken.readable).text();
            } catch (error: any) {
              corrupt = error.name;
            }
            let badFormat = "";
            try {
              new CompressionStream("brotli" as any);
            } catch (error: any) {
              badFormat = error.name;
            }
            const letters = new ReadableStream({
              start(controller) {
                controller.enqueue("a");
                controller.enqueue("b");
                controller.close();
              },
            });
            let joined = "";
            for await (const chunk of letters as any) joined += chunk;
            const upper = new TransformStream({
              transform(chunk: Uint8Array, controller) {
                controller.enqueue(new TextEncoder().encode(new TextDecoder().decode(chunk).toUpperCase()));
              },
            });
            const shouted = await new Response(new Response("hi").body!.pipeThrough(upper)).text();
            let binary = "";
            packed.forEach((b) => (binary += String.fromCharCode(b)));
            const target = new EventTarget();
            let heard = 0;
            let detail = null;
            target.addEventListener("ping", () => (heard += 1), { once: true });
            target.addEventListener("note", (event: any) => (detail = event.detail));
            target.dispatchEvent(new Event("ping"));
            target.dispatchEvent(new Event("ping"));
            target.dispatchEvent(new CustomEvent("note", { detail: { n: 7 } }));
            const decoded = new Blob(["héllo"]).stream().pipeThrough(new TextDecoderStream());
            let text2 = "";
            for await (const chunk of decoded as any) text2 += chunk;
            const encoded = new Response(
              new Response("wörld").body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream()),
            );
            return {
              heard,
              detail,
              decoded: text2,
              reencoded: await encoded.text(),
              gzip: btoa(binary),
              smaller: packed.length < text.length,
              roundTrip: unpacked === text,
              corrupt,
              badFormat,
              joined,
              shouted,
            };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ squeezed: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ failed: String(event.data?.message) })) },
        },
      },
      bodying: {
        invoke: {
          src: async () => {
            const blob = new Blob(["héllo ", new Uint8Array([33])], { type: "Text/Plain" });
            const form = new FormData();
            form.append("a", "1");
            form.append("a", 2 as any);
            form.set("b", "3");
            form.append("upload", new Blob(["data"], { type: "text/csv" }), "rows.csv");
            const multipart = new Response(form);
            const sent = await multipart.text();
            const json = Response.json({ ok: true }, { status: 201 });
            const read = new Response("once");
            await read.text();
            let again = "";
            try {
              await read.text();
            } catch (error: any) {
              again = error.name;
            }
            const request = new Request("https://example.com/a?b=1", {
              method: "post",
              body: new URLSearchParams({ q: "x y" }),
              headers: { "X-A": "1" },
            });
            let getBody = "";
            try {
              new Request("https://example.com/", { body: "no" });
            } catch (error: any) {
              getBody = error.name;
            }
            return {
              size: blob.size,
              type: blob.type,
              text: await blob.text(),
              slice: await blob.slice(1, 3).text(),
              file: new File(["x"], "a.txt").name,
              all: form.getAll("a"),
              b: form.get("b"),
              upload: (form.get("upload") as File).name,
              multipartType: multipart.headers.get("content-type")!.split(";")[0],
              multipart: sent.includes('name="a"') && sent.includes('filename="rows.csv"') && sent.includes("data"),
              jsonType: json.headers.get("content-type"),
              jsonStatus: json.status,
              json: await json.clone().json(),
              again,
              requestMethod: request.method,
              requestType: request.headers.get("content-type"),
              requestBody: await request.text(),
              requestHeader: request.headers.get("x-a"),
              getBody,
            };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ bodies: event.data })) },
          onError: { target: "idle", actions: note((_, event) => ({ failed: String(event.data?.message) })) },
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
            if (event.bytes) {
              // A binary body, sent as it is: the echo answers what it received, in hex.
              const posted = await fetch(event.url, { method: "POST", body: new Uint8Array(event.bytes) });
              return { status: posted.status, kind: await posted.text() };
            }
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

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
          keys: "keying",
          forms: "forming",
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
      // RSA, ECDSA, ECDH, AES-CBC/CTR, PBKDF2, HKDF and the key formats: what is deterministic
      // is kept (compared with node and with Python), what is random is checked round trip.
      keying: {
        invoke: {
          src: async () => {
            const subtle = crypto.subtle;
            const encode = (text: string) => new TextEncoder().encode(text);
            const message = encode("hello, keys");
            const rsaJwk = {
              kty: "RSA",
              n: "rZZPGQ6YLwXLKEeHa6Dr6Gubzdtg077B7v6_BKcnMS_A-uMLZgskvWtMFZ0VC5LOu-lwjbHkH7prwZCZM7BbMn-oJpFy1bKDeK985sPWC0qmTjTCbkMvTyvX-j-9Em_bvCX4BY_O_lvtehK9S9XbouCfiJKhRgBgecYZk5ZAWvk",
              e: "AQAB",
              d: "I8CDhguleHne_-rLj3VTYUlYi6uVY8c0Nj8tpI2w2saVHpdIr7m31XOV9hWmUf3oqndIAUcUTxycOP_JLgYyofsT2s5YtLEShYZJoOrnED2etmv3NtdgQ6k-ya2L1qGmIb1530OzOdRuUm28a3CFVTjvSPjpQz9PnJhDRi1-KKk",
              p: "27vZsgt0ZyhciSAPfpecCHRgZTm-6AF4O0ZX6jmwfpjY99pJjEjE2WMvcJaOmEBtYpoIy9lodtYJk9zaABnSWw",
              q: "yjyt74izwwHFFORsXotp-R7sqO0wMsyGiL3h-hHGNImQwygTYNOdKaAzHV_0pAt0CUvm3uaWQMWTSQlbdrygOw",
              dp: "qsah2B3M90vIN47iW_oK_AsuzB2IQRq7Th5Kv7Dcelfi8ScHWG9KBsZunWt2IeCY4zRiN8SdyxZo1TGlgMSQ1w",
              dq: "xXKi2xebckvbD__IcjIpH-l6Y59XjHE09HJ3G4CZBBg_Ntp8uO9CJS7cWNSjdDoeayko2f1FOy3rE8bH_tBAmw",
              qi: "aaNRgkCtQvsmy6SnTEfTflmkDbxsyVojYqVFee0edGf130u6-wof1M8FvV2wkdt5L6kGnd1myWiL2KRsMNKHWQ",
            };
            const ecJwk = (x: string, y: string, d: string) => ({ kty: "EC", crv: "P-256", x, y, d });
            const alice = ecJwk(
              "OxAAYQkAdNVDPZE1ZZiPqU84usx2LYJrfkPuANR9ouQ",
              "OTF81osV9_rFiwEOwMftGKfo_ZWHzfunIU5wfaLYFLc",
              "IFS5uGALh2vhGidHXVk-oJyzET2NvPRTQbY5kEMHDT4",
            );
            const bob = ecJwk(
              "-b0jsrKI_5KsIA-ATanQt-pixuUK9v20MNUqEZcd8CI",
              "xyJOxpQBeJE6JRdY7yYpYc8-vMWl8Sg2G1Tf5__J8UM",
              "m7_hZGVrFQvnNJgrp5YbU42hb4liVmfkcCwoR-x5zQM",
            );
            const publicOf = ({ d, ...rest }: any) => rest;
            const rs = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
            const rsaPrivate = await subtle.importKey("jwk", rsaJwk, rs, true, ["sign"]);
            const rsaPublic = await subtle.importKey("jwk", publicOf(rsaJwk), rs, true, ["verify"]);
            const signed = await subtle.sign(rs, rsaPrivate, message);
            const spki = await subtle.exportKey("spki", rsaPublic);
            const fromSpki = await subtle.importKey("spki", spki, rs, true, ["verify"]);
            const pkcs8 = await subtle.exportKey("pkcs8", rsaPrivate);
            const ps = { name: "RSA-PSS", hash: "SHA-256" };
            const psPrivate = await subtle.importKey("pkcs8", pkcs8, ps, false, ["sign"]);
            const psPublic = await subtle.importKey("spki", spki, ps, false, ["verify"]);
            const psSigned = await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, psPrivate, message);
            const oaep = { name: "RSA-OAEP", hash: "SHA-256" };
            const oaepPublic = await subtle.importKey("jwk", publicOf(rsaJwk), oaep, true, ["encrypt"]);
            const oaepPrivate = await subtle.importKey("jwk", rsaJwk, oaep, false, ["decrypt"]);
            const sealedRsa = await subtle.encrypt({ name: "RSA-OAEP" }, oaepPublic, message);
            const es = { name: "ECDSA", namedCurve: "P-256" };
            const ecPrivate = await subtle.importKey("jwk", alice, es, true, ["sign"]);
            const ecPublic = await subtle.importKey("jwk", publicOf(alice), es, true, ["verify"]);
            const ecSigned = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, ecPrivate, message);
            const raw = await subtle.exportKey("raw", ecPublic);
            const dh = { name: "ECDH", namedCurve: "P-256" };
            const aliceDh = await subtle.importKey("jwk", alice, dh, false, ["deriveBits"]);
            const bobDh = await subtle.importKey("raw", await subtle.exportKey("raw", await subtle.importKey("jwk", publicOf(bob), dh, true, [])), dh, true, []);
            const shared = await subtle.deriveBits({ name: "ECDH", public: bobDh }, aliceDh, 256);
            const aesBytes = new Uint8Array(16).map((_, i) => i);
            const cbcKey = await subtle.importKey("raw", aesBytes, "AES-CBC", true, ["encrypt", "decrypt"]);
            const cbc = { name: "AES-CBC", iv: new Uint8Array(16).fill(7) };
            const cbcSealed = await subtle.encrypt(cbc, cbcKey, message);
            const ctrKey = await subtle.importKey("jwk", await subtle.exportKey("jwk", cbcKey).then((jwk: any) => ({ ...jwk, alg: "A128CTR" })), "AES-CTR", true, ["encrypt", "decrypt"]);
            const ctr = { name: "AES-CTR", counter: new Uint8Array(16).fill(1), length: 64 };
            const ctrSealed = await subtle.encrypt(ctr, ctrKey, message);
            const password = await subtle.importKey("raw", encode("correct horse"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
            const pbkdf2 = { name: "PBKDF2", salt: encode("salt"), iterations: 1000, hash: "SHA-256" };
            const stretched = await subtle.deriveBits(pbkdf2, password, 256);
            const derivedKey = await subtle.deriveKey(pbkdf2, password, { name: "AES-GCM", length: 128 }, true, ["encrypt"]);
            const ikm = await subtle.importKey("raw", encode("input key"), "HKDF", false, ["deriveBits"]);
            const expanded = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: encode("s"), info: encode("i") }, ikm, 128);
            const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, ["sign", "verify"]) as CryptoKeyPair;
            const pairSigned = await subtle.sign({ name: "ECDSA", hash: "SHA-384" }, pair.privateKey, message);
            const rsaPair = await subtle.generateKey({ name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-1" }, true, ["encrypt", "decrypt"]) as CryptoKeyPair;
            const rsaPairJwk: any = await subtle.exportKey("jwk", rsaPair.publicKey);
            let wrongUsage = "";
            try {
              await subtle.importKey("jwk", publicOf(rsaJwk), rs, true, ["sign"]);
            } catch (error: any) {
              wrongUsage = error.name;
            }
            const tamperedSignature = new Uint8Array(signed).slice();
            tamperedSignature[0] ^= 1;
            return {
              rsaSignature: hex(signed),
              rsaVerified: await subtle.verify(rs, fromSpki, signed, message),
              rsaTampered: await subtle.verify(rs, rsaPublic, tamperedSignature, message),
              publicJwk: await subtle.exportKey("jwk", rsaPublic),
              spki: hex(spki),
              pssVerified: await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, psPublic, psSigned, message),
              oaepOpened: new TextDecoder().decode(await subtle.decrypt({ name: "RSA-OAEP" }, oaepPrivate, sealedRsa)),
              ecVerified: await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, ecPublic, ecSigned, message),
              ecSignatureBytes: ecSigned.byteLength,
              ecRaw: hex(raw),
              ecPrivateJwk: await subtle.exportKey("jwk", ecPrivate),
              shared: hex(shared),
              cbc: hex(cbcSealed),
              cbcOpened: new TextDecoder().decode(await subtle.decrypt(cbc, cbcKey, cbcSealed)),
              ctr: hex(ctrSealed),
              ctrOpened: new TextDecoder().decode(await subtle.decrypt(ctr, ctrKey, ctrSealed)),
              pbkdf2: hex(stretched),
              derivedKey: hex(await subtle.exportKey("raw", derivedKey)),
              hkdf: hex(expanded),
              generated: [pair.publicKey.type, pair.privateKey.type, pair.publicKey.extractable, pair.privateKey.extractable, pair.publicKey.usages, pair.privateKey.usages, (pair.privateKey.algorithm as any).namedCurve],
              generatedVerified: await subtle.verify({ name: "ECDSA", hash: "SHA-384" }, pair.publicKey, pairSigned, message),
              rsaGenerated: [rsaPairJwk.alg, rsaPairJwk.e, (rsaPair.privateKey.algorithm as any).modulusLength],
              wrongUsage,
            };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ keys: event.data })) },
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
      // Response.formData (multipart and urlencoded) and a reader that fills its own buffer.
      forming: {
        invoke: {
          src: async () => {
            const form = new FormData();
            form.append("name", "Zoë \"quoted\"\r\nline");
            form.append("upload", new File([new Uint8Array([0, 255, 13, 10, 45, 45])], "raw.bin", { type: "application/x-thing" }));
            form.append("name", "second");
            const parsed = await new Response(form).formData();
            const upload = parsed.get("upload") as File;
            const encoded = await new Response(new URLSearchParams({ a: "1 2", b: "é" })).formData();
            let notForm = "";
            try {
              await new Response("plain").formData();
            } catch (error: any) {
              notForm = error.name;
            }
            const stream = new Response(new Uint8Array([1, 2, 3, 4, 5, 6, 7])).body!;
            const reader = (stream as any).getReader({ mode: "byob" });
            const reads: number[][] = [];
            for (;;) {
              const { value, done } = await reader.read(new Uint8Array(3));
              if (done) break;
              reads.push(Array.from(value));
            }
            return {
              names: parsed.getAll("name"),
              upload: [upload.name, upload.type, Array.from(new Uint8Array(await upload.arrayBuffer()))],
              encoded: [...encoded.entries()],
              notForm,
              reads,
            };
          },
          onDone: { target: "idle", actions: note((_, event) => ({ forms: event.data })) },
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

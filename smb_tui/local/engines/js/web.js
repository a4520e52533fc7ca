// The web APIs State Backed's runtime gives machine code, for V8 without a browser:
// console (into the instance's logs), crypto (getRandomValues, randomUUID, subtle: digest,
// HMAC, AES, RSA, ECDSA/ECDH, PBKDF2/HKDF: see "Keys" below), TextEncoder/TextDecoder, atob/btoa, URL,
// URLSearchParams, queueMicrotask, setTimeout/clearTimeout, setInterval/clearInterval,
// structuredClone, performance.now, AbortController/AbortSignal, Headers, Blob, File,
// FormData, Request, Response, ReadableStream/WritableStream/TransformStream (held, not
// pulled), CompressionStream/DecompressionStream (the host's zlib), TextEncoderStream/
// TextDecoderStream, Event/CustomEvent/EventTarget and fetch.
//
// One file, over 400 lines, because it is one closure: each API is a few lines, and they
// share `define`, the byte helpers and the per-run scope that keeps machine code out of
// the host.
//
// Not a script of its own: xstate_worker.py puts this file and engine.js inside one
// function, `install(py, secret, settleError, fetchAllowed)`, called once per machine
// version's context. `py` is what Python gives (digest, fetch, sleep, wake), reachable only
// from these closures: nothing of the host is a global that machine code could read or
// replace. What engine.js must provide: `random(count)` (crypto's pool), `currentRun()`.
//
// Each run gets a scope of its own (`makeScope`): console, setTimeout, clearTimeout and
// fetch bound to that run, handed to the fresh module instance the run uses, so that a
// timer or a promise callback logs under the run that made it, and nothing of a run
// outlives it (its timers are cleared and its fetches dropped when it finishes).

// Globals this file defines cannot be replaced by machine code (one run must not change
// what the next run of the same machine sees).
const define = (name, value) => {
  if (typeof value === "function" && value.prototype) Object.freeze(value.prototype);
  Object.defineProperty(globalThis, name, { value: Object.freeze(value), writable: false, configurable: false });
};
const show = (value) => {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack || String(value);
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json;
  } catch (error) {
    return String(value);
  }
};
const consoleOf = (live) => {
  const line = (stream) => (...args) => {
    const run = live();
    if (run) run.log(stream, args.map(show).join(" "));
  };
  return Object.freeze({
    log: line("stdout"),
    info: line("stdout"),
    debug: line("stdout"),
    trace: line("stdout"),
    warn: line("stderr"),
    error: line("stderr"),
  });
};

define("queueMicrotask", (callback) => {
  Promise.resolve().then(callback);
});

class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
}
define("DOMException", DOMException);

// --- bytes
const bytesOf = (data) => {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected an ArrayBuffer or a typed array");
};
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (hex) => {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
};

// --- crypto: randomness from the host's pool (os.urandom), digests by hashlib
// Bytes to and from base64, for the host's functions (in slices: a spread of a large
// array overflows V8's stack).
const base64Of = (bytes) => {
  let binary = "";
  for (let at = 0; at < bytes.length; at += 8192) binary += String.fromCharCode(...bytes.subarray(at, at + 8192));
  return btoa(binary);
};
const bytesOfBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const integerArrays = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, BigInt64Array, BigUint64Array,
];
const getRandomValues = (array) => {
  if (!integerArrays.some((type) => array instanceof type)) {
    throw new DOMException("getRandomValues takes an integer typed array", "TypeMismatchError");
  }
  if (array.byteLength > 65536) {
    throw new DOMException("getRandomValues gives at most 65536 bytes at once", "QuotaExceededError");
  }
  bytesOf(array).set(random(array.byteLength));
  return array;
};
const randomUUID = () => {
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const digests = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
const subtle = {
  async digest(algorithm, data) {
    const name = String(typeof algorithm === "string" ? algorithm : algorithm && algorithm.name).toUpperCase();
    if (!digests.includes(name)) {
      throw new DOMException(`digest: unsupported algorithm ${name}`, "NotSupportedError");
    }
    const hex = await py.digest(name, toHex(bytesOf(data)));
    return fromHex(hex).buffer;
  },
};
// Keys. A secret key's bytes, or an asymmetric key's DER (spki or pkcs8, base64), are kept
// out of reach of what holds the key. HMAC is built on digest, as RFC 2104 writes it;
// AES-GCM, AES-CBC, AES-CTR, RSA (RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP), ECDSA, ECDH,
// PBKDF2 and HKDF are the host's (`cryptography`: webcrypto.py); keys import and export as
// raw, jwk, spki and pkcs8 where WebCrypto allows. Not here: wrapKey/unwrapKey, AES-KW,
// Ed25519/X25519.
const blockSizes = { "SHA-1": 64, "SHA-256": 64, "SHA-384": 128, "SHA-512": 128 };
const nameOf = (algorithm) =>
  String(typeof algorithm === "string" ? algorithm : algorithm && algorithm.name).toUpperCase();
const CANONICAL = {
  HMAC: "HMAC", "AES-GCM": "AES-GCM", "AES-CBC": "AES-CBC", "AES-CTR": "AES-CTR",
  PBKDF2: "PBKDF2", HKDF: "HKDF", "RSASSA-PKCS1-V1_5": "RSASSA-PKCS1-v1_5", "RSA-PSS": "RSA-PSS",
  "RSA-OAEP": "RSA-OAEP", ECDSA: "ECDSA", ECDH: "ECDH",
};
const AES = ["AES-GCM", "AES-CBC", "AES-CTR"];
const RSA = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP"];
const EC = ["ECDSA", "ECDH"];
// What each kind of key may be used for (WebCrypto refuses other usages).
const USAGES = {
  HMAC: { secret: ["sign", "verify"] },
  "AES-GCM": { secret: ["encrypt", "decrypt"] },
  "AES-CBC": { secret: ["encrypt", "decrypt"] },
  "AES-CTR": { secret: ["encrypt", "decrypt"] },
  PBKDF2: { secret: ["deriveBits", "deriveKey"] },
  HKDF: { secret: ["deriveBits", "deriveKey"] },
  "RSASSA-PKCS1-v1_5": { public: ["verify"], private: ["sign"] },
  "RSA-PSS": { public: ["verify"], private: ["sign"] },
  "RSA-OAEP": { public: ["encrypt"], private: ["decrypt"] },
  ECDSA: { public: ["verify"], private: ["sign"] },
  ECDH: { public: [], private: ["deriveBits", "deriveKey"] },
};
const canonical = (algorithm, method) => {
  const name = CANONICAL[nameOf(algorithm)];
  if (!name) throw new DOMException(`${method}: unsupported algorithm ${nameOf(algorithm)}`, "NotSupportedError");
  return name;
};
const hashOf = (hash, method) => {
  const name = nameOf(hash);
  if (!digests.includes(name)) throw new DOMException(`${method}: unsupported hash ${name}`, "NotSupportedError");
  return name;
};
const keyMaterial = new WeakMap(); // key -> { secret: Uint8Array } or { der, type, ... }
class CryptoKey {
  constructor(type, extractable, algorithm, usages) {
    this.type = type;
    this.extractable = extractable;
    this.algorithm = algorithm;
    this.usages = usages;
    Object.freeze(this);
  }
}
define("CryptoKey", CryptoKey);
const makeKey = (type, extractable, algorithm, usages, material, method) => {
  const allowed = USAGES[algorithm.name][type] || [];
  const list = Array.from(usages || [], String);
  const bad = list.filter((usage) => !allowed.includes(usage));
  if (bad.length) throw new DOMException(`${method}: a ${algorithm.name} ${type} key cannot be used to ${bad.join(", ")}`, "SyntaxError");
  if (!list.length && type !== "public") throw new DOMException(`${method}: the key's usages are empty`, "SyntaxError");
  const key = new CryptoKey(type, Boolean(extractable), Object.freeze(algorithm), Object.freeze(list));
  keyMaterial.set(key, material);
  return key;
};
const materialOf = (key, usage, name) => {
  const material = keyMaterial.get(key);
  if (!material) throw new TypeError("expected a CryptoKey from crypto.subtle");
  if (name && key.algorithm.name !== name) {
    throw new DOMException(`the key is for ${key.algorithm.name}, not ${name}`, "InvalidAccessError");
  }
  if (usage && !key.usages.includes(usage)) {
    throw new DOMException(`the key's usages do not include "${usage}"`, "InvalidAccessError");
  }
  return material;
};
const secretOf = (key, usage, name) => materialOf(key, usage, name).secret;
const host = async (request) => {
  const answer = JSON.parse(await py.subtle(JSON.stringify(request)));
  if (answer.error !== undefined) throw new DOMException(answer.error, answer.name);
  return answer.ok;
};
const base64url = (bytes) => base64Of(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const bytesOfBase64url = (text) => {
  if (typeof text !== "string") throw new DOMException("a jwk member is not a string", "DataError");
  const plain = text.replace(/-/g, "+").replace(/_/g, "/");
  return bytesOfBase64(plain + "=".repeat((4 - (plain.length % 4)) % 4));
};
const hmac = async (key, usage, data) => {
  const hash = key.algorithm.hash.name;
  const block = blockSizes[hash];
  let secret = secretOf(key, usage, "HMAC");
  if (secret.length > block) secret = new Uint8Array(await subtle.digest(hash, secret));
  const padded = new Uint8Array(block);
  padded.set(secret);
  const message = bytesOf(data);
  const inner = new Uint8Array(block + message.length);
  for (let i = 0; i < block; i++) inner[i] = padded[i] ^ 0x36;
  inner.set(message, block);
  const innerHash = new Uint8Array(await subtle.digest(hash, inner));
  const outer = new Uint8Array(block + innerHash.length);
  for (let i = 0; i < block; i++) outer[i] = padded[i] ^ 0x5c;
  outer.set(innerHash, block);
  return subtle.digest(hash, outer);
};
const secretKey = (name, bytes, algorithm, extractable, usages, method) => {
  let shown;
  if (name === "HMAC") {
    const hash = hashOf(algorithm.hash, method);
    const length = algorithm.length === undefined ? bytes.length * 8 : Number(algorithm.length);
    shown = { name, hash: Object.freeze({ name: hash }), length };
  } else if (AES.includes(name)) {
    if (![16, 24, 32].includes(bytes.length)) throw new DOMException("an AES key is 128, 192 or 256 bits", "DataError");
    shown = { name, length: bytes.length * 8 };
  } else {
    if (extractable) throw new DOMException(`${method}: a ${name} key cannot be extractable`, "SyntaxError");
    shown = { name };
  }
  return makeKey("secret", extractable, shown, usages, { secret: bytes }, method);
};
const asymmetricKey = (name, described, algorithm, extractable, usages, method) => {
  const shown = EC.includes(name)
    ? { name, namedCurve: described.namedCurve }
    : {
      name,
      modulusLength: described.modulusLength,
      publicExponent: bytesOfBase64(described.publicExponent),
      hash: Object.freeze({ name: hashOf(algorithm.hash, method) }),
    };
  // A public key is always extractable, as WebCrypto makes them.
  const open = described.type === "public" ? true : extractable;
  return makeKey(described.type, open, shown, usages, described, method);
};
subtle.importKey = async (format, keyData, algorithm, extractable, usages) => {
  const name = canonical(algorithm, "importKey");
  if (RSA.includes(name) || EC.includes(name)) {
    if (!["raw", "spki", "pkcs8", "jwk"].includes(format)) {
      throw new DOMException(`importKey: unknown format ${format}`, "NotSupportedError");
    }
    const described = await host({
      op: "import",
      format,
      family: EC.includes(name) ? "EC" : "RSA",
      keyData: format === "jwk" ? keyData : base64Of(bytesOf(keyData)),
      namedCurve: EC.includes(name) ? algorithm.namedCurve : undefined,
    });
    return asymmetricKey(name, described, algorithm, extractable, usages, "importKey");
  }
  let bytes;
  if (format === "raw") bytes = new Uint8Array(bytesOf(keyData)); // a copy: the caller's buffer may change
  else if (format === "jwk" && !["PBKDF2", "HKDF"].includes(name)) {
    if (!keyData || keyData.kty !== "oct") throw new DOMException('importKey: a secret jwk has kty "oct"', "DataError");
    bytes = bytesOfBase64url(keyData.k);
  } else throw new DOMException(`importKey: a ${name} key is not imported as "${format}"`, "NotSupportedError");
  return secretKey(name, bytes, algorithm, extractable, usages, "importKey");
};
const JWK_ALG = {
  HMAC: (key) => `HS${key.algorithm.hash.name.slice(4)}`,
  "AES-GCM": (key) => `A${key.algorithm.length}GCM`,
  "AES-CBC": (key) => `A${key.algorithm.length}CBC`,
  "AES-CTR": (key) => `A${key.algorithm.length}CTR`,
};
subtle.exportKey = async (format, key) => {
  const material = materialOf(key);
  if (!key.extractable) throw new DOMException("the key is not extractable", "InvalidAccessError");
  if (key.type === "secret") {
    if (format === "raw") return material.secret.slice().buffer;
    if (format === "jwk") {
      const alg = JWK_ALG[key.algorithm.name];
      return { key_ops: [...key.usages], ext: true, kty: "oct", k: base64url(material.secret), ...(alg ? { alg: alg(key) } : {}) };
    }
    throw new DOMException(`exportKey: a secret key has no "${format}" form`, "NotSupportedError");
  }
  const algorithm = { name: key.algorithm.name, hash: key.algorithm.hash?.name, namedCurve: key.algorithm.namedCurve };
  const out = await host({ op: "export", format, key: material, algorithm });
  if (format === "jwk") return { key_ops: [...key.usages], ext: true, ...out };
  return bytesOfBase64(out).buffer;
};
subtle.generateKey = async (algorithm, extractable, usages) => {
  const name = canonical(algorithm, "generateKey");
  if (AES.includes(name)) {
    const bits = Number(algorithm.length);
    if (![128, 192, 256].includes(bits)) throw new DOMException(`${name} length is 128, 192 or 256`, "OperationError");
    return secretKey(name, getRandomValues(new Uint8Array(bits / 8)), algorithm, extractable, usages, "generateKey");
  }
  if (name === "HMAC") {
    const hash = hashOf(algorithm.hash, "generateKey");
    const bytes = algorithm.length === undefined ? blockSizes[hash] : Math.ceil(Number(algorithm.length) / 8);
    return secretKey(name, getRandomValues(new Uint8Array(bytes)), algorithm, extractable, usages, "generateKey");
  }
  if (!RSA.includes(name) && !EC.includes(name)) {
    throw new DOMException(`generateKey: ${name} keys are derived or imported, not generated`, "NotSupportedError");
  }
  const pair = await host({
    op: "generate",
    family: EC.includes(name) ? "EC" : "RSA",
    namedCurve: algorithm.namedCurve,
    modulusLength: algorithm.modulusLength,
    publicExponent: algorithm.publicExponent ? base64Of(bytesOf(algorithm.publicExponent)) : undefined,
  });
  const list = Array.from(usages || [], String);
  const split = (type) => list.filter((usage) => USAGES[name][type].includes(usage));
  return {
    publicKey: asymmetricKey(name, pair.publicKey, algorithm, true, split("public"), "generateKey"),
    privateKey: asymmetricKey(name, pair.privateKey, algorithm, extractable, split("private"), "generateKey"),
  };
};
const signature = (operation, algorithm, key) => {
  const name = canonical(algorithm, operation);
  if (!["RSASSA-PKCS1-v1_5", "RSA-PSS", "ECDSA"].includes(name)) {
    throw new DOMException(`${operation}: unsupported algorithm ${name}`, "NotSupportedError");
  }
  return {
    key: materialOf(key, operation, name),
    algorithm: {
      name,
      saltLength: algorithm.saltLength,
      hash: name === "ECDSA" ? hashOf(algorithm.hash, operation) : undefined,
    },
    keyHash: key.algorithm.hash?.name,
    namedCurve: key.algorithm.namedCurve,
  };
};
subtle.sign = async (algorithm, key, data) => {
  if (nameOf(algorithm) === "HMAC") return hmac(key, "sign", data);
  const request = signature("sign", algorithm, key);
  return bytesOfBase64(await host({ op: "sign", ...request, data: base64Of(bytesOf(data)) })).buffer;
};
subtle.verify = async (algorithm, key, signed, data) => {
  if (nameOf(algorithm) === "HMAC") {
    const expected = new Uint8Array(await hmac(key, "verify", data));
    const given = bytesOf(signed);
    let difference = expected.length ^ given.length;
    for (let i = 0; i < expected.length; i++) difference |= expected[i] ^ (given[i] || 0);
    return difference === 0;
  }
  const request = signature("verify", algorithm, key);
  return host({ op: "verify", ...request, data: base64Of(bytesOf(data)), signature: base64Of(bytesOf(signed)) });
};
// AES-GCM by the host's AESGCM (a 128-bit tag, as WebCrypto's default); the other ciphers
// by webcrypto.py.
const aesGcm = async (operation, algorithm, key, data) => {
  const secret = secretOf(key, operation, "AES-GCM");
  if (algorithm.tagLength !== undefined && Number(algorithm.tagLength) !== 128) {
    throw new DOMException(`${operation}: a 128-bit tag only`, "NotSupportedError");
  }
  const iv = bytesOf(algorithm.iv);
  if (!iv.length) throw new DOMException(`${operation}: the iv is empty`, "OperationError");
  const aad = algorithm.additionalData === undefined ? new Uint8Array(0) : bytesOf(algorithm.additionalData);
  const answer = JSON.parse(
    await py.aes(operation, base64Of(secret), base64Of(iv), base64Of(bytesOf(data)), base64Of(aad)),
  );
  if (answer.error) throw new DOMException(answer.error, "OperationError");
  return bytesOfBase64(answer.ok).buffer;
};
const crypt = async (operation, algorithm, key, data) => {
  const name = canonical(algorithm, operation);
  if (name === "AES-GCM") return aesGcm(operation, algorithm, key, data);
  if (!["AES-CBC", "AES-CTR", "RSA-OAEP"].includes(name)) {
    throw new DOMException(`${operation}: unsupported algorithm ${name}`, "NotSupportedError");
  }
  const material = materialOf(key, operation, name);
  const optional = (value) => (value === undefined ? undefined : base64Of(bytesOf(value)));
  const answer = await host({
    op: "crypt",
    operation,
    algorithm: {
      name,
      iv: optional(algorithm.iv),
      counter: optional(algorithm.counter),
      length: algorithm.length,
      label: optional(algorithm.label),
    },
    key: name === "RSA-OAEP" ? material : undefined,
    keyHash: key.algorithm.hash?.name,
    secret: material.secret ? base64Of(material.secret) : undefined,
    data: base64Of(bytesOf(data)),
  });
  return bytesOfBase64(answer).buffer;
};
subtle.encrypt = (algorithm, key, data) => crypt("encrypt", algorithm, key, data);
subtle.decrypt = (algorithm, key, data) => crypt("decrypt", algorithm, key, data);
const derive = async (algorithm, baseKey, length, usage) => {
  const name = canonical(algorithm, usage);
  if (!["PBKDF2", "HKDF", "ECDH"].includes(name)) {
    throw new DOMException(`${usage}: unsupported algorithm ${name}`, "NotSupportedError");
  }
  const material = materialOf(baseKey, usage, name);
  const optional = (value) => (value === undefined ? undefined : base64Of(bytesOf(value)));
  const request = {
    op: "derive",
    length: length === null || length === undefined ? null : Number(length),
    algorithm: {
      name,
      hash: name === "ECDH" ? undefined : hashOf(algorithm.hash, usage),
      salt: optional(algorithm.salt),
      info: optional(algorithm.info),
      iterations: algorithm.iterations,
      public: name === "ECDH" ? materialOf(algorithm.public, null, "ECDH") : undefined,
    },
    key: name === "ECDH" ? material : undefined,
    secret: material.secret ? base64Of(material.secret) : undefined,
  };
  return bytesOfBase64(await host(request)).buffer;
};
subtle.deriveBits = (algorithm, baseKey, length) => derive(algorithm, baseKey, length, "deriveBits");
subtle.deriveKey = async (algorithm, baseKey, derivedKeyType, extractable, usages) => {
  const name = canonical(derivedKeyType, "deriveKey");
  let bits = Number(derivedKeyType.length);
  if (name === "HMAC" && derivedKeyType.length === undefined) bits = blockSizes[hashOf(derivedKeyType.hash, "deriveKey")] * 8;
  if (!(bits > 0)) throw new DOMException(`deriveKey: a ${name} key needs a length`, "OperationError");
  const derived = await derive(algorithm, baseKey, bits, "deriveKey");
  return subtle.importKey("raw", derived, derivedKeyType, extractable, usages);
};
define("crypto", Object.freeze({ getRandomValues, randomUUID, subtle: Object.freeze(subtle) }));

// --- structuredClone: JSON values, Date, RegExp, Map, Set, ArrayBuffer, typed arrays,
// errors, and cycles; functions and symbols are a DataCloneError, as in a browser.
define("structuredClone", (value) => {
  const seen = new Map();
  const clone = (v) => {
    if (typeof v === "function" || typeof v === "symbol") {
      throw new DOMException(`${String(v)} could not be cloned`, "DataCloneError");
    }
    if (v === null || typeof v !== "object") return v;
    if (seen.has(v)) return seen.get(v);
    let copy;
    if (v instanceof Date) copy = new Date(v.getTime());
    else if (v instanceof RegExp) copy = new RegExp(v.source, v.flags);
    else if (v instanceof ArrayBuffer) copy = v.slice(0);
    else if (ArrayBuffer.isView(v)) {
      copy = new v.constructor(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    } else if (v instanceof Error) {
      copy = new Error(v.message);
      copy.name = v.name;
    } else if (v instanceof Map) copy = new Map();
    else if (v instanceof Set) copy = new Set();
    else if (Array.isArray(v)) copy = new Array(v.length);
    else copy = {};
    seen.set(v, copy);
    if (v instanceof Map) for (const [k, x] of v) copy.set(clone(k), clone(x));
    else if (v instanceof Set) for (const x of v) copy.add(clone(x));
    else if (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const k of Object.keys(v)) copy[k] = clone(v[k]);
    }
    return copy;
  };
  return clone(value);
});

// --- performance: time since this context started, by the server's clock
const timeOrigin = Date.now();
define("performance", { timeOrigin, now: () => Date.now() - timeOrigin });

// --- Event / EventTarget (WinterCG's minimum): listeners, once, and dispatch
class Event {
  constructor(type, options = {}) {
    this.type = String(type);
    this.bubbles = Boolean(options.bubbles);
    this.cancelable = Boolean(options.cancelable);
    this.defaultPrevented = false;
    this.target = null;
    this.currentTarget = null;
    this.timeStamp = Date.now();
  }
  preventDefault() {
    if (this.cancelable) this.defaultPrevented = true;
  }
  stopPropagation() {}
  stopImmediatePropagation() {
    this._stopped = true;
  }
}
class CustomEvent extends Event {
  constructor(type, options = {}) {
    super(type, options);
    this.detail = options.detail === undefined ? null : options.detail;
  }
}
const eventListeners = new WeakMap();
class EventTarget {
  addEventListener(type, listener, options) {
    if (!listener) return;
    const all = eventListeners.get(this) || new Map();
    eventListeners.set(this, all);
    const listeners = all.get(String(type)) || [];
    all.set(String(type), listeners);
    if (listeners.some((held) => held.listener === listener)) return;
    const once = typeof options === "object" && options !== null && Boolean(options.once);
    listeners.push({ listener, once });
  }
  removeEventListener(type, listener) {
    const listeners = (eventListeners.get(this) || new Map()).get(String(type));
    if (!listeners) return;
    const at = listeners.findIndex((held) => held.listener === listener);
    if (at !== -1) listeners.splice(at, 1);
  }
  dispatchEvent(event) {
    if (!(event instanceof Event)) throw new TypeError("dispatchEvent takes an Event");
    event.target = event.currentTarget = this;
    const listeners = ((eventListeners.get(this) || new Map()).get(event.type) || []).slice();
    for (const held of listeners) {
      if (held.once) this.removeEventListener(event.type, held.listener);
      if (typeof held.listener === "function") held.listener.call(this, event);
      else if (typeof held.listener.handleEvent === "function") held.listener.handleEvent(event);
      if (event._stopped) break;
    }
    return !event.defaultPrevented;
  }
}
define("Event", Event);
define("CustomEvent", CustomEvent);
define("EventTarget", EventTarget);

// --- AbortController / AbortSignal
class AbortSignal {
  constructor() {
    this.aborted = false;
    this.reason = undefined;
    this.onabort = null;
    this.listeners = [];
  }
  addEventListener(type, listener) {
    if (type === "abort" && listener) this.listeners.push(listener);
  }
  removeEventListener(type, listener) {
    this.listeners = this.listeners.filter((held) => held !== listener);
  }
  throwIfAborted() {
    if (this.aborted) throw this.reason;
  }
  static abort(reason) {
    const signal = new AbortSignal();
    abortSignal(signal, reason);
    return signal;
  }
  static timeout(milliseconds) {
    const signal = new AbortSignal();
    setTimeout(() => abortSignal(signal, new DOMException("The operation timed out.", "TimeoutError")), milliseconds);
    return signal;
  }
}
const abortSignal = (signal, reason) => {
  if (signal.aborted) return;
  signal.aborted = true;
  signal.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
  const event = { type: "abort", target: signal };
  for (const listener of [signal.onabort, ...signal.listeners]) {
    if (typeof listener === "function") listener.call(signal, event);
    else if (listener && typeof listener.handleEvent === "function") listener.handleEvent(event);
  }
};
class AbortController {
  constructor() {
    this.signal = new AbortSignal();
  }
  abort(reason) {
    abortSignal(this.signal, reason);
  }
}
define("AbortSignal", AbortSignal);
define("AbortController", AbortController);

// --- TextEncoder / TextDecoder (UTF-8)
class TextEncoder {
  get encoding() {
    return "utf-8";
  }
  encode(input = "") {
    const out = [];
    for (const char of String(input)) {
      let c = char.codePointAt(0);
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
}
class TextDecoder {
  constructor(label = "utf-8", options = {}) {
    if (!["utf-8", "utf8", "unicode-1-1-utf-8"].includes(String(label).toLowerCase())) {
      throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`);
    }
    this.fatal = Boolean(options.fatal);
  }
  get encoding() {
    return "utf-8";
  }
  decode(input) {
    if (input === undefined) return "";
    const b = bytesOf(input);
    let out = "";
    let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
    const bad = () => {
      if (this.fatal) throw new TypeError("The encoded data was not valid utf-8");
      out += "\ufffd";
    };
    while (i < b.length) {
      const x = b[i];
      const need = x < 0x80 ? 0 : x >= 0xc2 && x < 0xe0 ? 1 : x >= 0xe0 && x < 0xf0 ? 2 : x >= 0xf0 && x < 0xf5 ? 3 : -1;
      if (need < 0) {
        bad();
        i += 1;
        continue;
      }
      let c = need === 0 ? x : x & (0x3f >> need);
      let j = 1;
      for (; j <= need; j++) {
        const y = b[i + j];
        if (y === undefined || (y & 0xc0) !== 0x80) break;
        c = (c << 6) | (y & 63);
      }
      const overlong = (need === 2 && c < 0x800) || (need === 3 && (c < 0x10000 || c > 0x10ffff));
      if (j <= need || overlong || (c >= 0xd800 && c <= 0xdfff)) {
        bad();
        i += Math.max(1, j);
        continue;
      }
      out += String.fromCodePoint(c);
      i += need + 1;
    }
    return out;
  }
}
define("TextEncoder", TextEncoder);
define("TextDecoder", TextDecoder);

// --- atob / btoa
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const btoa = (input) => {
  const s = String(input);
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const codes = [s.charCodeAt(i), s.charCodeAt(i + 1), s.charCodeAt(i + 2)];
    if (codes.some((c) => c > 255)) {
      throw new DOMException("btoa: the string has characters outside of Latin1", "InvalidCharacterError");
    }
    const [a, b, c] = codes;
    out += alphabet[a >> 2] + alphabet[((a & 3) << 4) | (b >> 4 || 0)];
    out += Number.isNaN(b) ? "==" : alphabet[((b & 15) << 2) | (c >> 6 || 0)] + (Number.isNaN(c) ? "=" : alphabet[c & 63]);
  }
  return out;
};
const atob = (input) => {
  let s = String(input).replace(/[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) {
    throw new DOMException("atob: the string is not valid base64", "InvalidCharacterError");
  }
  let out = "";
  let bits = 0;
  let value = 0;
  for (const char of s) {
    value = (value << 6) | alphabet.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((value >> bits) & 255);
    }
  }
  return out;
};

define("btoa", btoa);
define("atob", atob);

// --- URLSearchParams / URL (absolute URLs and references resolved against a base)
const formEncode = (s) =>
  encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
const formDecode = (s) => {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch (error) {
    return s;
  }
};
class URLSearchParams {
  constructor(init = "") {
    this._list = [];
    this._url = null;
    if (typeof init === "string") this._parse(init);
    else if (init instanceof URLSearchParams) this._list = init._list.map(([k, v]) => [k, v]);
    else if (init && typeof init[Symbol.iterator] === "function") {
      for (const pair of init) {
        const [k, v] = Array.from(pair);
        this._list.push([String(k), String(v)]);
      }
    } else if (init && typeof init === "object") {
      for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
    }
  }
  _parse(query) {
    this._list = [];
    for (const part of query.replace(/^\?/, "").split("&")) {
      if (!part) continue;
      const at = part.indexOf("=");
      const [k, v] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
      this._list.push([formDecode(k), formDecode(v)]);
    }
  }
  _changed() {
    if (this._url) this._url._search = this._list.length ? "?" + this.toString() : "";
  }
  get size() {
    return this._list.length;
  }
  append(k, v) {
    this._list.push([String(k), String(v)]);
    this._changed();
  }
  delete(k) {
    this._list = this._list.filter(([key]) => key !== String(k));
    this._changed();
  }
  get(k) {
    const found = this._list.find(([key]) => key === String(k));
    return found ? found[1] : null;
  }
  getAll(k) {
    return this._list.filter(([key]) => key === String(k)).map(([, v]) => v);
  }
  has(k) {
    return this._list.some(([key]) => key === String(k));
  }
  set(k, v) {
    const at = this._list.findIndex(([key]) => key === String(k));
    if (at < 0) this._list.push([String(k), String(v)]);
    else {
      this._list[at] = [String(k), String(v)];
      this._list = this._list.filter(([key], i) => i <= at || key !== String(k));
    }
    this._changed();
  }
  sort() {
    this._list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this._changed();
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this._list) callback.call(thisArg, v, k, this);
  }
  *entries() {
    yield* this._list.map(([k, v]) => [k, v]);
  }
  *keys() {
    for (const [k] of this._list) yield k;
  }
  *values() {
    for (const [, v] of this._list) yield v;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  toString() {
    return this._list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join("&");
  }
}

const defaultPorts = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443", "ftp:": "21" };
const special = (protocol) => protocol in defaultPorts || protocol === "file:";
const urlPattern = /^([a-zA-Z][a-zA-Z0-9+.-]*:)(\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/;
const removeDots = (path) => {
  const out = [];
  const parts = path.split("/");
  parts.forEach((part, i) => {
    if (part === "..") {
      if (out.length > 1) out.pop();
      if (i === parts.length - 1) out.push("");
    } else if (part === ".") {
      if (i === parts.length - 1) out.push("");
    } else out.push(part);
  });
  return out.join("/");
};
// IDNA: a host's non-ASCII labels as punycode (RFC 3492) after NFC and lower case,
// as browsers give `new URL("https://münchen.de").hostname` (xn--mnchen-3ya.de).
const punycode = (label) => {
  const base = 36, tMin = 1, tMax = 26;
  const codes = Array.from(label, (c) => c.codePointAt(0));
  let output = codes.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join("");
  const basic = output.length;
  if (basic) output += "-";
  const digit = (d) => String.fromCharCode(d + 22 + (d < 26 ? 75 : 0));
  const adapt = (delta, points, first) => {
    delta = first ? Math.floor(delta / 700) : delta >> 1;
    delta += Math.floor(delta / points);
    let k = 0;
    for (; delta > ((base - tMin) * tMax) >> 1; k += base) delta = Math.floor(delta / (base - tMin));
    return k + Math.floor(((base - tMin + 1) * delta) / (delta + 38));
  };
  let n = 0x80, delta = 0, bias = 72, handled = basic;
  while (handled < codes.length) {
    const m = Math.min(...codes.filter((c) => c >= n));
    delta += (m - n) * (handled + 1);
    n = m;
    for (const c of codes) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = base; ; k += base) {
        const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
        if (q < t) break;
        output += digit(t + ((q - t) % (base - t)));
        q = Math.floor((q - t) / (base - t));
      }
      output += digit(q);
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return output;
};
const toASCII = (host) =>
  host
    .normalize("NFC")
    .toLowerCase()
    .split(".")
    .map((label) => (/[^\x00-\x7f]/.test(label) ? `xn--${punycode(label)}` : label))
    .join(".");
const encodePath = (p) => p.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g, (c) => encodeURIComponent(c));
const encodeQuery = (q) => q.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/g, (c) => encodeURIComponent(c));
class URL {
  constructor(url, base) {
    let text = String(url).trim();
    let match = urlPattern.exec(text);
    if (!match) {
      if (base === undefined) throw new TypeError(`Invalid URL: ${text}`);
      const b = base instanceof URL ? base : new URL(base);
      text = URL._resolve(text, b);
      match = urlPattern.exec(text);
      if (!match) throw new TypeError(`Invalid URL: ${url}`);
    }
    const [, protocol, , authority, path, search, hash] = match;
    this._protocol = protocol.toLowerCase();
    if (special(this._protocol) && this._protocol !== "file:" && !authority) {
      throw new TypeError(`Invalid URL: ${url}`);
    }
    const at = (authority || "").lastIndexOf("@");
    const userinfo = at < 0 ? "" : authority.slice(0, at);
    const hostport = at < 0 ? authority || "" : authority.slice(at + 1);
    const [user, ...pass] = userinfo.split(":");
    this._username = user || "";
    this._password = pass.join(":");
    const portMatch = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostport);
    if (!portMatch) throw new TypeError(`Invalid URL: ${url}`);
    this._hostname = special(this._protocol) ? toASCII(portMatch[1]) : portMatch[1];
    if (/[\s<>^|]/.test(this._hostname)) throw new TypeError(`Invalid URL: ${url}`);
    const port = portMatch[2] || "";
    if (port && Number(port) > 65535) throw new TypeError(`Invalid URL: ${url}`);
    this._port = port === defaultPorts[this._protocol] ? "" : port.replace(/^0+(?=\d)/, "");
    this._hasAuthority = authority !== undefined;
    let pathname = encodePath(path || "");
    if (special(this._protocol)) pathname = removeDots(pathname.startsWith("/") ? pathname : "/" + pathname);
    this._pathname = pathname;
    this._search = search && search.length > 1 ? encodeQuery(search) : "";
    this._hash = hash && hash.length > 1 ? "#" + encodeQuery(hash.slice(1)) : "";
    this._params = new URLSearchParams(this._search);
    this._params._url = this;
  }
  static _resolve(reference, base) {
    const origin = `${base.protocol}${base._hasAuthority ? "//" + base.host : ""}`;
    if (reference.startsWith("//")) return base.protocol + reference;
    if (reference.startsWith("/")) return origin + reference;
    if (reference.startsWith("?")) return origin + base.pathname + reference;
    if (reference.startsWith("#")) return origin + base.pathname + base.search + reference;
    if (reference === "") return origin + base.pathname + base.search;
    const dir = base.pathname.slice(0, base.pathname.lastIndexOf("/") + 1);
    const cut = reference.search(/[?#]/);
    const path = cut < 0 ? reference : reference.slice(0, cut);
    return origin + removeDots(dir + path) + (cut < 0 ? "" : reference.slice(cut));
  }
  static canParse(url, base) {
    try {
      new URL(url, base);
      return true;
    } catch (error) {
      return false;
    }
  }
  get protocol() {
    return this._protocol;
  }
  get username() {
    return this._username;
  }
  get password() {
    return this._password;
  }
  get hostname() {
    return this._hostname;
  }
  get port() {
    return this._port;
  }
  get host() {
    return this._port ? `${this._hostname}:${this._port}` : this._hostname;
  }
  get origin() {
    return special(this._protocol) && this._protocol !== "file:" ? `${this._protocol}//${this.host}` : "null";
  }
  get pathname() {
    return this._pathname;
  }
  get search() {
    return this._search;
  }
  set search(value) {
    const s = String(value).replace(/^\?/, "");
    this._search = s ? "?" + encodeQuery(s) : "";
    this._params._parse(this._search);
  }
  get searchParams() {
    return this._params;
  }
  get hash() {
    return this._hash;
  }
  set hash(value) {
    const s = String(value).replace(/^#/, "");
    this._hash = s ? "#" + encodeQuery(s) : "";
  }
  get href() {
    const credentials = this._username || this._password
      ? `${this._username}${this._password ? ":" + this._password : ""}@`
      : "";
    const authority = this._hasAuthority ? `//${credentials}${this.host}` : "";
    return `${this._protocol}${authority}${this._pathname}${this._search}${this._hash}`;
  }
  toString() {
    return this.href;
  }
  toJSON() {
    return this.href;
  }
}
define("URL", URL);
define("URLSearchParams", URLSearchParams);

// --- fetch: off unless the server was started with --allow-fetch
class Headers {
  constructor(init) {
    this._map = new Map();
    const pairs = init instanceof Headers ? init.entries() : Array.isArray(init) ? init : Object.entries(init || {});
    for (const [k, v] of pairs) this.append(k, v);
  }
  append(k, v) {
    const key = String(k).toLowerCase();
    this._map.set(key, this._map.has(key) ? `${this._map.get(key)}, ${v}` : String(v));
  }
  set(k, v) {
    this._map.set(String(k).toLowerCase(), String(v));
  }
  get(k) {
    const v = this._map.get(String(k).toLowerCase());
    return v === undefined ? null : v;
  }
  has(k) {
    return this._map.has(String(k).toLowerCase());
  }
  delete(k) {
    this._map.delete(String(k).toLowerCase());
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this._map) callback.call(thisArg, v, k, this);
  }
  *entries() {
    yield* this._map.entries();
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}
// --- streams: enough of WHATWG streams for bodies and (de)compression. A stream holds
// the chunks enqueued until they are read (no back-pressure: a run's memory is capped).
class ReadableStream {
  constructor(source = {}) {
    this._chunks = [];
    this._closed = false;
    this._error = null;
    this._waiting = [];
    this.locked = false;
    const wake = () => this._waiting.splice(0).forEach((resolve) => resolve());
    this._controller = {
      desiredSize: 1,
      enqueue: (chunk) => {
        if (this._closed) throw new TypeError("the stream is closed");
        this._chunks.push(chunk);
        wake();
      },
      close: () => {
        this._closed = true;
        wake();
      },
      error: (error) => {
        this._error = error;
        wake();
      },
    };
    this._pull = typeof source.pull === "function" ? () => source.pull(this._controller) : null;
    if (typeof source.start === "function") {
      const started = source.start(this._controller);
      if (started && typeof started.then === "function") started.then(undefined, this._controller.error);
    }
  }
  async _read() {
    for (;;) {
      if (this._chunks.length) return { value: this._chunks.shift(), done: false };
      if (this._error) throw this._error;
      if (this._closed) return { value: undefined, done: true };
      if (this._pull) {
        await this._pull();
        if (this._chunks.length || this._closed || this._error) continue;
      }
      await new Promise((resolve) => this._waiting.push(resolve));
    }
  }
  getReader(options = {}) {
    if (this.locked) throw new TypeError("the stream is locked to a reader");
    if (options && options.mode === "byob") return this._byobReader();
    if (options && options.mode !== undefined) throw new TypeError(`getReader: unknown mode ${options.mode}`);
    this.locked = true;
    return {
      read: () => this._read(),
      releaseLock: () => {
        this.locked = false;
      },
      cancel: async () => {
        this._chunks = [];
        this._closed = true;
      },
    };
  }
  // A reader that fills the caller's buffer ("bring your own buffer"), for streams of bytes
  // (as a body is): a chunk larger than the view is given over several reads.
  _byobReader() {
    this.locked = true;
    let left = new Uint8Array(0);
    return {
      read: async (view) => {
        if (!ArrayBuffer.isView(view) || !view.byteLength) {
          throw new TypeError("read(view): a non-empty ArrayBufferView");
        }
        if (!left.length) {
          const { value, done } = await this._read();
          if (done) return { value: new view.constructor(view.buffer, view.byteOffset, 0), done: true };
          left = typeof value === "string" ? new TextEncoder().encode(value) : bytesOf(value);
        }
        const unit = view.BYTES_PER_ELEMENT || 1;
        const count = Math.min(left.length - (left.length % unit) || left.length, view.byteLength - (view.byteLength % unit));
        if (count < unit) throw new TypeError("read(view): the bytes left do not fill one element of the view");
        new Uint8Array(view.buffer, view.byteOffset, count).set(left.subarray(0, count));
        left = left.subarray(count);
        return { value: new view.constructor(view.buffer, view.byteOffset, count / unit), done: false };
      },
      releaseLock: () => {
        this.locked = false;
      },
      cancel: async () => {
        this._chunks = [];
        this._closed = true;
      },
    };
  }
  async cancel() {
    this._chunks = [];
    this._closed = true;
  }
  async *[Symbol.asyncIterator]() {
    const reader = this.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  pipeThrough(transform) {
    this.pipeTo(transform.writable).catch(() => {}); // its failure errors transform.readable
    return transform.readable;
  }
  async pipeTo(writable) {
    const writer = writable.getWriter();
    try {
      for await (const chunk of this) await writer.write(chunk);
      await writer.close();
    } catch (error) {
      await writer.abort(error);
      throw error;
    }
  }
}
class WritableStream {
  constructor(sink = {}) {
    this._sink = sink;
    this.locked = false;
  }
  getWriter() {
    if (this.locked) throw new TypeError("the stream is locked to a writer");
    this.locked = true;
    const sink = this._sink;
    return {
      ready: Promise.resolve(),
      write: async (chunk) => sink.write && sink.write(chunk),
      close: async () => sink.close && sink.close(),
      abort: async (reason) => sink.abort && sink.abort(reason),
      releaseLock: () => {
        this.locked = false;
      },
    };
  }
}
class TransformStream {
  constructor(transformer = {}) {
    let readable;
    this.readable = new ReadableStream({
      start(controller) {
        readable = controller;
      },
    });
    const controller = {
      enqueue: (chunk) => readable.enqueue(chunk),
      error: (error) => readable.error(error),
      terminate: () => readable.close(),
    };
    this.writable = new WritableStream({
      async write(chunk) {
        try {
          if (transformer.transform) await transformer.transform(chunk, controller);
          else controller.enqueue(chunk);
        } catch (error) {
          controller.error(error);
          throw error;
        }
      },
      async close() {
        try {
          if (transformer.flush) await transformer.flush(controller);
          readable.close();
        } catch (error) {
          controller.error(error);
          throw error;
        }
      },
      abort: (reason) => controller.error(reason),
    });
    if (transformer.start) transformer.start(controller);
  }
}
const concatBytes = (chunks) => {
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
};
const zlibFormats = ["gzip", "deflate", "deflate-raw"];
// (De)compression is the host's zlib, on the whole input once it is closed.
const zlibStream = (mode, format) => {
  if (!zlibFormats.includes(format)) throw new TypeError(`format must be one of ${zlibFormats.join(", ")}`);
  const chunks = [];
  return {
    transform(chunk) {
      if (!(chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk))) {
        throw new TypeError("a (de)compression stream takes bytes (an ArrayBuffer or a typed array)");
      }
      chunks.push(bytesOf(chunk).slice());
    },
    async flush(controller) {
      const answer = JSON.parse(await py.zlib(mode, format, base64Of(concatBytes(chunks))));
      if (answer.error) throw new TypeError(answer.error);
      controller.enqueue(bytesOfBase64(answer.ok));
    },
  };
};
class CompressionStream extends TransformStream {
  constructor(format) {
    super(zlibStream("compress", format));
  }
}
class DecompressionStream extends TransformStream {
  constructor(format) {
    super(zlibStream("decompress", format));
  }
}
class TextEncoderStream extends TransformStream {
  constructor() {
    const encoder = new TextEncoder();
    super({ transform: (chunk, controller) => controller.enqueue(encoder.encode(String(chunk))) });
    this.encoding = "utf-8";
  }
}
class TextDecoderStream extends TransformStream {
  constructor(label = "utf-8", options = {}) {
    const decoder = new TextDecoder(label, options);
    const pending = [];
    // Whole, once closed: a character split over two chunks decodes as one.
    super({
      transform: (chunk) => {
        pending.push(bytesOf(chunk).slice());
      },
      flush: (controller) => {
        const text = decoder.decode(concatBytes(pending));
        if (text) controller.enqueue(text);
      },
    });
    this.encoding = decoder.encoding;
  }
}
define("TextEncoderStream", TextEncoderStream);
define("TextDecoderStream", TextDecoderStream);
define("ReadableStream", ReadableStream);
define("WritableStream", WritableStream);
define("TransformStream", TransformStream);
define("CompressionStream", CompressionStream);
define("DecompressionStream", DecompressionStream);

// --- bodies: Blob, File, FormData, Request, Response (whole bodies in memory)
const blobBytes = new WeakMap(); // a Blob's bytes, out of reach of machine code's writes
class Blob {
  constructor(parts = [], options = {}) {
    const chunks = [];
    for (const part of parts) {
      if (part instanceof Blob) chunks.push(blobBytes.get(part));
      else if (part instanceof ArrayBuffer || ArrayBuffer.isView(part)) chunks.push(bytesOf(part).slice());
      else chunks.push(new TextEncoder().encode(String(part)));
    }
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    blobBytes.set(this, bytes);
    const type = String(options.type || "");
    this.type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
  }
  get size() {
    return blobBytes.get(this).length;
  }
  slice(start = 0, end = this.size, type = "") {
    const blob = new Blob([], { type });
    blobBytes.set(blob, blobBytes.get(this).slice(start, end));
    return blob;
  }
  async arrayBuffer() {
    return blobBytes.get(this).slice().buffer;
  }
  async bytes() {
    return blobBytes.get(this).slice();
  }
  async text() {
    return new TextDecoder().decode(blobBytes.get(this));
  }
  stream() {
    const bytes = blobBytes.get(this).slice();
    return new ReadableStream({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
  }
}
class File extends Blob {
  constructor(parts, name, options = {}) {
    super(parts, options);
    this.name = String(name);
    this.lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
}
class FormData {
  constructor() {
    this._entries = [];
  }
  static _value(value, filename) {
    if (!(value instanceof Blob)) return String(value);
    if (value instanceof File && filename === undefined) return value;
    return new File([value], filename === undefined ? "blob" : String(filename), { type: value.type });
  }
  append(name, value, filename) {
    this._entries.push([String(name), FormData._value(value, filename)]);
  }
  set(name, value, filename) {
    const key = String(name);
    const at = this._entries.findIndex(([k]) => k === key);
    const entry = [key, FormData._value(value, filename)];
    this._entries = this._entries.filter(([k], i) => k !== key || i === at);
    if (at === -1) this._entries.push(entry);
    else this._entries[this._entries.findIndex(([k]) => k === key)] = entry;
  }
  get(name) {
    const found = this._entries.find(([k]) => k === String(name));
    return found ? found[1] : null;
  }
  getAll(name) {
    return this._entries.filter(([k]) => k === String(name)).map(([, v]) => v);
  }
  has(name) {
    return this._entries.some(([k]) => k === String(name));
  }
  delete(name) {
    this._entries = this._entries.filter(([k]) => k !== String(name));
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this._entries) callback.call(thisArg, v, k, this);
  }
  *entries() {
    yield* this._entries.map(([k, v]) => [k, v]);
  }
  *keys() {
    for (const [k] of this._entries) yield k;
  }
  *values() {
    for (const [, v] of this._entries) yield v;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}
// A body as bytes and the content type it implies (multipart for FormData, as fetch sends).
const bodyOf = (body) => {
  if (body === undefined || body === null) return { bytes: new Uint8Array(0), type: null };
  if (typeof body === "string") return { bytes: new TextEncoder().encode(body), type: "text/plain;charset=UTF-8" };
  if (body instanceof Blob) return { bytes: blobBytes.get(body).slice(), type: body.type || null };
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return { bytes: bytesOf(body).slice(), type: null };
  if (body instanceof URLSearchParams) {
    return { bytes: new TextEncoder().encode(body.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  if (body instanceof FormData) {
    const boundary = `----smb-form-${toHex(getRandomValues(new Uint8Array(12)))}`;
    const parts = [];
    for (const [name, value] of body) {
      const quoted = (text) => text.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
      if (value instanceof File) {
        parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"; filename="${quoted(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`, value, "\r\n");
      } else {
        parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`);
      }
    }
    parts.push(`--${boundary}--\r\n`);
    return { bytes: blobBytes.get(new Blob(parts)), type: `multipart/form-data; boundary=${boundary}` };
  }
  return { bytes: new TextEncoder().encode(String(body)), type: "text/plain;charset=UTF-8" };
};
class Body {
  async _take() {
    if (this.bodyUsed) throw new TypeError("the body was read already");
    this.bodyUsed = true;
    if (this._stream) {
      const chunks = [];
      for await (const chunk of this._stream) {
        chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : bytesOf(chunk));
      }
      this._bytes = concatBytes(chunks);
      this._stream = null;
    }
    return this._bytes;
  }
  get body() {
    if (this._stream) return this._stream;
    const bytes = this._bytes;
    return new ReadableStream({
      start(controller) {
        if (bytes.length) controller.enqueue(bytes.slice());
        controller.close();
      },
    });
  }
  async arrayBuffer() {
    return (await this._take()).slice().buffer;
  }
  async bytes() {
    return (await this._take()).slice();
  }
  async text() {
    return new TextDecoder().decode(await this._take());
  }
  async json() {
    return JSON.parse(await this.text());
  }
  async blob() {
    return new Blob([await this._take()], { type: this.headers.get("content-type") || "" });
  }
  // A urlencoded or multipart body as FormData (multipart's files as File).
  async formData() {
    const type = this.headers.get("content-type") || "";
    const bytes = await this._take();
    const form = new FormData();
    if (/^application\/x-www-form-urlencoded/i.test(type)) {
      for (const [name, value] of new URLSearchParams(new TextDecoder().decode(bytes))) form.append(name, value);
      return form;
    }
    const boundary = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    if (!boundary) throw new TypeError(`formData: the body is ${type || "untyped"}, not a form`);
    const encoder = new TextEncoder();
    const delimiter = encoder.encode(`--${boundary[1] || boundary[2]}`);
    const bad = () => new TypeError("formData: the multipart body is malformed");
    let at = indexOfBytes(bytes, delimiter, 0);
    if (at < 0) throw bad();
    for (;;) {
      at += delimiter.length;
      if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return form; // "--": the last
      if (bytes[at] !== 0x0d || bytes[at + 1] !== 0x0a) throw bad();
      const headersEnd = indexOfBytes(bytes, encoder.encode("\r\n\r\n"), at + 2);
      const next = indexOfBytes(bytes, encoder.encode(`\r\n--${boundary[1] || boundary[2]}`), at + 2);
      if (headersEnd < 0 || next < 0 || headersEnd > next) throw bad();
      const headers = new TextDecoder().decode(bytes.subarray(at + 2, headersEnd)).split("\r\n");
      const header = (name) => {
        const line = headers.find((h) => h.toLowerCase().startsWith(`${name}:`));
        return line ? line.slice(name.length + 1).trim() : "";
      };
      const disposition = header("content-disposition");
      const param = (key) => {
        const found = new RegExp(`;\\s*${key}="([^"]*)"`, "i").exec(disposition);
        return found ? found[1].replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%22/g, '"') : null;
      };
      const name = param("name");
      if (name === null) throw bad();
      const content = bytes.slice(headersEnd + 4, next);
      const filename = param("filename");
      if (filename !== null) {
        form.append(name, new File([content], filename, { type: header("content-type") || "application/octet-stream" }));
      } else form.append(name, new TextDecoder().decode(content));
      at = next + 2;
    }
  }
}
const indexOfBytes = (haystack, needle, from) => {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
};
const withBody = (target, body, headers) => {
  target._stream = body instanceof ReadableStream ? body : null;
  const { bytes, type } = bodyOf(target._stream ? null : body);
  target._bytes = bytes;
  target.bodyUsed = false;
  target.headers = new Headers(headers);
  if (type && !target.headers.has("content-type")) target.headers.set("content-type", type);
};
class Response extends Body {
  constructor(body, init = {}) {
    super();
    withBody(this, body, init.headers);
    this.status = init.status === undefined ? 200 : Number(init.status);
    if (!(this.status >= 200 && this.status <= 599)) throw new RangeError(`status ${init.status} is not 200 to 599`);
    this.statusText = init.statusText === undefined ? "" : String(init.statusText);
    this.url = init.url || "";
    this.ok = this.status >= 200 && this.status < 300;
  }
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  clone() {
    if (this.bodyUsed || this._stream) throw new TypeError("the body was read already, or is a stream");
    return new Response(this._bytes.slice(), this);
  }
}
class Request extends Body {
  constructor(input, init = {}) {
    super();
    const from = input instanceof Request ? input : null;
    this.url = from ? from.url : new URL(input instanceof URL ? input.href : String(input)).href;
    this.method = String(init.method || (from ? from.method : "GET")).toUpperCase();
    const body = init.body !== undefined ? init.body : from ? from._bytes : null;
    if ((this.method === "GET" || this.method === "HEAD") && body != null && !(from && body === from._bytes && !body.length)) {
      throw new TypeError(`a ${this.method} request has no body`);
    }
    withBody(this, body, init.headers || (from ? from.headers : undefined));
    this.signal = init.signal || (from ? from.signal : new AbortController().signal);
  }
  clone() {
    if (this.bodyUsed) throw new TypeError("the body was read already");
    return new Request(this);
  }
}
define("Headers", Headers);
define("Response", Response);
define("Request", Request);
define("Blob", Blob);
define("File", File);
define("FormData", FormData);

// --- each run's console, timers and fetch (see the top of this file)
const MAX_TIMERS = 1000; // setTimeout calls one run may make, due or not
let nextTimer = 1;
const fetchFor = (live) => async (resource, init = {}) => {
  const asked = resource instanceof Request ? new Request(resource, init) : new Request(resource instanceof URL ? resource.href : String(resource), init);
  const url = new URL(asked.url);
  const method = asked.method;
  const run = live();
  if (!run) throw new TypeError(`fetch(${method} ${url.href}): the event that asked for it is over`);
  if (asked.signal.aborted) throw asked.signal.reason;
  if (!fetchAllowed) {
    const message = `fetch(${method} ${url.href}) refused: smb-tui local runs offline; start it with --allow-fetch to let machine code reach the network`;
    run.log("stderr", message);
    throw new TypeError(message);
  }
  const sent = asked._stream ? await asked._take() : asked._bytes;
  const body = sent.length || !["GET", "HEAD"].includes(method) ? base64Of(sent) : null;
  const headers = Array.from(asked.headers.entries());
  const answer = JSON.parse(await py.fetch(run.id, url.href, method, JSON.stringify(headers), body == null ? null : body));
  if (answer.error) throw new TypeError(`fetch(${method} ${url.href}) failed: ${answer.error}`);
  const bytes = Uint8Array.from(atob(answer.body), (c) => c.charCodeAt(0));
  return new Response(bytes, { status: answer.status, statusText: answer.statusText, headers: answer.headers, url: url.href });
};
const makeScope = (holder) => {
  // The run this module instance serves, while it has not finished.
  const live = () => {
    const run = holder.run;
    return run && !run.finished ? run : null;
  };
  // Timers are kept here, and the host sleeps once, until the earliest is due: a run
  // with a thousand timers costs one pending sleep, not a thousand.
  const timers = new Map(); // id -> { due, call }
  let sleeping = null; // { until, token }: the host's one sleep for this scope
  const fire = (run) => {
    const now = Date.now();
    const due = [...timers].filter(([, timer]) => timer.due <= now).sort((a, b) => a[1].due - b[1].due || a[0] - b[0]);
    for (const [id, timer] of due) {
      if (!timers.has(id) || !live()) continue;
      if (timer.every) timer.due = Date.now() + timer.every;
      else timers.delete(id);
      run.within(() => {
        try {
          timer.call();
        } catch (error) {
          run.log("stderr", `Uncaught (in a ${timer.every ? "setInterval" : "setTimeout"} callback) ${show(error)}`);
        }
      });
    }
  };
  const arm = () => {
    const run = live();
    if (!run) return;
    let next = Infinity;
    for (const timer of timers.values()) next = Math.min(next, timer.due);
    if (sleeping && sleeping.until <= next) return;
    if (sleeping) py.wake(run.id, sleeping.token);
    sleeping = null;
    if (next === Infinity) return;
    const token = nextTimer++;
    sleeping = { until: next, token };
    py.sleep(run.id, token, Math.max(0, next - Date.now())).then(
      () => {
        if (sleeping && sleeping.token === token) sleeping = null;
        if (!live()) return;
        fire(run);
        arm();
      },
      () => {
        if (sleeping && sleeping.token === token) sleeping = null;
      },
    );
  };
  const setTimeout = (callback, delay = 0, ...args) => {
    if (typeof callback !== "function") throw new TypeError("setTimeout: the callback is not a function");
    const run = live();
    if (!run) return 0;
    if (run.timersMade >= MAX_TIMERS) {
      throw new RangeError(`setTimeout: one event may set at most ${MAX_TIMERS} timers`);
    }
    run.timersMade += 1;
    const id = nextTimer++;
    timers.set(id, { due: Date.now() + Math.max(0, Number(delay) || 0), call: () => callback(...args) });
    arm();
    return id;
  };
  const clearTimeout = (id) => {
    if (timers.delete(id)) arm();
  };
  // Every `delay` ms (at least 1: a 0 ms interval would spin the run) until cleared or
  // the run ends; one setInterval counts as one timer against the limit.
  const setInterval = (callback, delay = 0, ...args) => {
    const id = setTimeout(callback, delay, ...args);
    const timer = timers.get(id);
    if (timer) timer.every = Math.max(1, Number(delay) || 0);
    return id;
  };
  return {
    console: consoleOf(live),
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval: clearTimeout,
    fetch: fetchFor(live),
  };
};
// For code that reaches them through globalThis: the run whose code is executing.
const globalScope = makeScope({
  get run() {
    return currentRun();
  },
});
for (const name of ["console", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "fetch"]) {
  define(name, globalScope[name]);
}

// Follows /logs with State Backed's official client (`logs.watch`, as `smply logs watch`
// follows them) against the server at SMB_URL with the token SMB_TOKEN, from SMB_FROM,
// for the instance SMB_INSTANCE, for SMB_SECONDS seconds; then prints one JSON line: the
// lines it was given, in order, and how many /logs requests it made.
import { StateBackedClient } from "@statebacked/client";

let requests = 0;
const counting = (url, init) => {
  if (new URL(String(url)).pathname === "/logs") requests += 1;
  return fetch(url, init);
};
const client = new StateBackedClient(process.env.SMB_TOKEN, {
  apiHost: process.env.SMB_URL,
  fetch: counting,
});
const stop = new AbortController();
const lines = [];
const following = (async () => {
  const filter = { instanceName: process.env.SMB_INSTANCE };
  for await (const entry of client.logs.watch(new Date(process.env.SMB_FROM), filter, stop.signal)) {
    lines.push(entry.log);
  }
})();
await new Promise((resolve) => setTimeout(resolve, Number(process.env.SMB_SECONDS) * 1000));
stop.abort();
await Promise.race([following, new Promise((resolve) => setTimeout(resolve, 1000))]);
console.log(JSON.stringify({ lines, requests }));
process.exit(0);

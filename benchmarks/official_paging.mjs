// Pages through one instance's transitions with State Backed's official client
// (@statebacked/client), once for each line read on stdin, printing one JSON line per
// run: its seconds and the transitions read. One process for all runs, so that each is
// warm, as the other client's are; driven a run at a time, so that the two clients'
// runs can alternate. Run from a folder whose node_modules has the client.
//   node official_paging.mjs URL TOKEN MACHINE INSTANCE
import { createInterface } from "node:readline";
import { StateBackedClient } from "@statebacked/client";

const [url, token, machine, instance] = process.argv.slice(2);
const client = new StateBackedClient(token, { apiHost: url });
for await (const _line of createInterface({ input: process.stdin })) {
  const started = performance.now();
  let cursor = undefined;
  let read = 0;
  do {
    const page = await client.machineInstances.listTransitions(machine, instance, { cursor });
    read += page.transitions.length;
    cursor = page.cursor;
  } while (cursor);
  console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, read }));
}

// Pages through one instance's transitions with State Backed's official client
// (@statebacked/client), `runs` times; prints one JSON line: the seconds of each run and
// the transitions read. Run from a folder whose node_modules has the client.
//   node official_paging.mjs URL TOKEN MACHINE INSTANCE RUNS
import { StateBackedClient } from "@statebacked/client";

const [url, token, machine, instance, runs] = process.argv.slice(2);
const client = new StateBackedClient(token, { apiHost: url });
const seconds = [];
let read = 0;
for (let run = 0; run < Number(runs); run++) {
  const started = performance.now();
  let cursor = undefined;
  read = 0;
  do {
    const page = await client.machineInstances.listTransitions(machine, instance, { cursor });
    read += page.transitions.length;
    cursor = page.cursor;
  } while (cursor);
  seconds.push((performance.now() - started) / 1000);
}
console.log(JSON.stringify({ seconds, read }));

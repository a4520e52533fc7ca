// Deploys with State Backed's official client (@statebacked/client) against the server at
// SMB_URL, with the token SMB_TOKEN: a machine, version 1 (gzipped, made current),
// version 2, a migration from 1 to 2; then an instance of version 1 upgraded to 2 by its
// next event. Prints one JSON line of what it saw; exits non-zero on any error.
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { StateBackedClient } from "@statebacked/client";

const [machine, v1, v2, migration] = process.argv.slice(2);
const client = new StateBackedClient(process.env.SMB_TOKEN, { apiHost: process.env.SMB_URL });
const gzipped = (path) => gzipSync(readFileSync(path));

await client.machines.create(machine);
const first = await client.machineVersions.create(machine, {
  clientInfo: "1.0.0",
  gzippedCode: gzipped(v1),
  makeCurrent: true,
});
const second = await client.machineVersions.create(machine, {
  clientInfo: "2.0.0",
  code: readFileSync(v2, "utf8"), // not gzipped: the client allows both
  makeCurrent: false,
});
const migrated = await client.machineVersionMigrations.create(machine, {
  fromMachineVersionId: first.machineVersionId,
  toMachineVersionId: second.machineVersionId,
  gzippedCode: gzipped(migration),
});
const created = await client.machineInstances.create(machine, { slug: "one" });
const flipped = await client.machineInstances.sendEvent(machine, "one", { event: "flip" });
await client.machineInstances.admin.updateDesiredVersion(machine, "one", {
  targetMachineVersionId: second.machineVersionId,
});
const upgraded = await client.machineInstances.sendEvent(machine, "one", { event: "dim" });
const versions = await client.machineVersions.list(machine);
let refused = null;
try {
  await client.machineVersions.create(machine, { clientInfo: "bad", code: "const x = ;\nexport{x as default};" });
} catch (error) {
  refused = { name: error.name, message: error.message, status: error.status };
}
console.log(JSON.stringify({ first, second, migrated, created, flipped, upgraded, versions, refused }));

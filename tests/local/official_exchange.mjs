// Signs in as an app does with its own identity provider (State Backed's official client,
// `identityProviderToken` + `tokenProviderService`): the client exchanges SMB_IDP_TOKEN at
// SMB_URL's /tokens, then creates and reads an instance; prints one JSON line.
import { StateBackedClient } from "@statebacked/client";

const client = new StateBackedClient({
  identityProviderToken: process.env.SMB_IDP_TOKEN,
  orgId: process.env.SMB_ORG,
  tokenProviderService: process.env.SMB_SERVICE,
}, { apiHost: process.env.SMB_URL });
const created = await client.machineInstances.create("counter", { slug: "signed-in" });
await client.machineInstances.sendEvent("counter", "signed-in", { event: { type: "increment" } });
const read = await client.machineInstances.get("counter", "signed-in");
console.log(JSON.stringify({ created: created.state, read: read.state }));
process.exit(0);

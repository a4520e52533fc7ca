// Subscribes to SMB_MACHINE/SMB_INSTANCE with State Backed's official client, over realtime
// (undici's WebSocket, the one the client's own dependency carries), at SMB_URL with the
// token SMB_TOKEN, for SMB_SECONDS seconds; then prints one JSON line: the connections the
// client opened, the errors it reported (status and code) and the states it was given.
import { StateBackedClient } from "@statebacked/client";
import { WebSocket as UndiciWebSocket } from "undici";

let connections = 0;
class CountingWebSocket extends UndiciWebSocket {
  constructor(...args) {
    super(...args);
    connections += 1;
  }
}
const client = new StateBackedClient(process.env.SMB_TOKEN, {
  apiHost: process.env.SMB_URL,
  WebSocket: CountingWebSocket,
  wsPingIntervalMs: 60_000,
});
const errors = [];
const states = [];
const unsubscribe = client.machineInstances.subscribe(
  process.env.SMB_MACHINE,
  process.env.SMB_INSTANCE,
  (state) => states.push(state.state),
  (error) => errors.push({ status: error.status ?? null, code: error.code ?? null }),
);
await new Promise((resolve) => setTimeout(resolve, Number(process.env.SMB_SECONDS) * 1000));
unsubscribe();
console.log(JSON.stringify({ connections, errors, states }));
process.exit(0);

// (Named _*: not a machine module.) The reference for tests/local/test_xstate_differential.py: event sequences through a
// built module in node, with XState's own interpreter. Prints, for each sequence, the
// state after creation and after each event: value, context, done and tags, and `failed`
// when XState's interpreter threw on the event (a send to no parent or no such child).
import { interpret } from "xstate";
import { pathToFileURL } from "node:url";

const [modulePath, sequencesJson] = process.argv.slice(2);
const machine = (await import(pathToFileURL(modulePath).href)).default;
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
const view = (state) => ({
  value: state.value,
  context: state.context,
  done: state.done,
  tags: [...state.tags].sort(),
});
const results = [];
for (const { context, events } of JSON.parse(sequencesJson)) {
  const base = machine.context && typeof machine.context === "object" ? machine.context : {};
  const service = interpret(machine.withContext({ ...base, ...context })).start();
  await settle();
  const steps = [view(service.getSnapshot())];
  for (const event of events) {
    let failed = false;
    try {
      service.send(event);
    } catch (error) {
      failed = true;
    }
    await settle();
    steps.push({ ...view(service.getSnapshot()), ...(failed ? { failed } : {}) });
  }
  service.stop();
  results.push(steps);
}
console.log(JSON.stringify(results));

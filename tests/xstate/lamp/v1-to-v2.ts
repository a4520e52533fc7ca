// The migration from v1 to v2, as State Backed runs one: a state path at a time, then
// the context.
export const upgradeState = (path: string[]) =>
  path[0] === "on" ? ["lit", "bright"] : ["dark"];

export const upgradeContext = (
  _oldStates: string[][],
  _newStates: string[][],
  context: { public: { flips: number } },
) => ({ public: { switched: context.public.flips, migrated: true } });

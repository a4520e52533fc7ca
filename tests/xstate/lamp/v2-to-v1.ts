// Back from v2 to v1: State Backed takes a migration between any two versions, forward
// or back, and finds the way through them.
export const upgradeState = (path: string[]) => (path[0] === "lit" ? ["on"] : ["off"]);

export const upgradeContext = (
  _oldStates: string[][],
  _newStates: string[][],
  context: { public: { switched: number } },
) => ({ public: { flips: context.public.switched } });

// The authorizer types of @statebacked/machine (its types.d.ts), kept here so that the
// demo machines build with xstate and esbuild alone.
export type ReadRequest<Context = object> = {
  machineInstanceName: string;
  state: unknown;
  context: Context;
  authContext: { sub?: string; [claim: string]: unknown };
};
export type WriteRequest<Context = object> =
  | (ReadRequest<Context> & { type: "event"; event: { type: string; [key: string]: unknown } })
  | {
      type: "initialization";
      machineInstanceName: string;
      context: Context;
      authContext: { sub?: string; [claim: string]: unknown };
    };
export type AllowRead<Context = object> = (request: ReadRequest<Context>) => boolean;
export type AllowWrite<Context = object> = (request: WriteRequest<Context>) => boolean;

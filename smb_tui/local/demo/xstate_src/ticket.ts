// A support ticket, written as a State Backed user writes a machine: XState v4 in
// TypeScript, built with esbuild as smply builds it (see docs/local-server.md, "Your own machines").
// It shows an invoked promise (triage, with the web crypto API), delayed transitions,
// guards, tags, a final state, console logs and both authorizers.
import type { AllowRead, AllowWrite } from "./_statebacked";
import { assign, createMachine } from "xstate";

type Public = {
  title: string;
  reference?: string;
  priority?: "low" | "high";
  assignee?: string;
  comments: number;
  escalated: boolean;
};
type Context = { public: Public; reporter?: string };

const update = (change: (context: Context, event: any) => Partial<Public>) =>
  assign<Context, any>({ public: (context, event) => ({ ...context.public, ...change(context, event) }) });

export default createMachine<Context>(
  {
    id: "ticket",
    predictableActionArguments: true,
    initial: "triage",
    context: { public: { title: "untitled", comments: 0, escalated: false } },
    states: {
      triage: {
        invoke: {
          id: "triage",
          src: "triage",
          onDone: { target: "open", actions: update((_, event) => event.data) },
          onError: { target: "open", actions: "complain" },
        },
      },
      open: {
        tags: ["needs-owner"],
        after: { 60000: { actions: "escalate", cond: (context) => !context.public.escalated } },
        on: {
          assign: { target: "inProgress", cond: "namesSomeone", actions: "takeAssignee" },
          comment: { actions: "comment" },
        },
      },
      inProgress: {
        tags: ["active"],
        on: {
          resolve: "resolved",
          unassign: { target: "open", actions: update(() => ({ assignee: undefined })) },
          comment: { actions: "comment" },
        },
      },
      resolved: {
        tags: ["done"],
        after: { 120000: "closed" },
        on: { reopen: "open" },
      },
      closed: { type: "final" },
    },
  },
  {
    services: {
      triage: async (context) => {
        const title = new TextEncoder().encode(context.public.title);
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", title));
        const hex = Array.from(digest.slice(0, 3), (b) => b.toString(16).padStart(2, "0"));
        const reference = `T-${hex.join("").toUpperCase()}`;
        const priority = /down|outage|urgent|fail/i.test(context.public.title) ? "high" : "low";
        console.log(`triaged ${reference} as ${priority}`);
        return { reference, priority };
      },
    },
    actions: {
      takeAssignee: update((_, event) => ({ assignee: event.assignee })),
      comment: update((context) => ({ comments: context.public.comments + 1 })),
      escalate: (context) => console.warn(`ticket ${context.public.reference} waited an hour`),
      complain: (_, event) => console.error("triage failed:", event.data),
    },
    guards: {
      namesSomeone: (_, event) => typeof event.assignee === "string" && event.assignee.length > 0,
    },
  },
);

// Anyone signed in may write; only the reporter and the assignee read the details.
export const allowWrite: AllowWrite<Context> = ({ authContext }) => authContext.sub !== undefined;
export const allowRead: AllowRead<Context> = ({ authContext, context }) =>
  authContext.sub !== undefined &&
  (context.reporter === undefined ||
    authContext.sub === context.reporter ||
    authContext.sub === context.public.assignee ||
    authContext.sub === "demo-user");

// Reads ~/.smply/credentials as smply 0.1.x does (the auth client of supabase-js 2.26.0,
// as createClient makes it, with smply's storage adapter) and prints the access token
// getSession gives, or the error. GoTrueClient directly: on node 20, createClient's
// realtime client (pulled at its newest by a fresh install) refuses to start.
import fs from "node:fs/promises";
import path from "node:path";
import { GoTrueClient } from "@supabase/gotrue-js";

const projectRef = "wzmjedymhlqansmxtsmo";
const expectedKey = `sb-${projectRef}-auth-token`;
const tokenFile = path.join(process.env.HOME ?? ".", ".smply", "credentials");
const auth = new GoTrueClient({
  url: `https://${projectRef}.supabase.co/auth/v1`,
  headers: { apikey: "anon" },
  storageKey: expectedKey,
  autoRefreshToken: true,
  persistSession: true,
  detectSessionInUrl: true,
  storage: {
    getItem: async (key) => (key === expectedKey ? fs.readFile(tokenFile, "utf8") : null),
    removeItem: () => {},
    setItem: () => {},
  },
});
const { data, error } = await auth.getSession();
if (error) {
  console.error(String(error));
  process.exit(1);
}
process.stdout.write(data?.session?.access_token ?? "");
process.exit(0);

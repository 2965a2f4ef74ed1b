// Fixture: a second version of plugins/jsecho whose `jsecho.fail` throws a plain Error (a bug,
// with detail that must stay out of the reply), so the tests can see it trap like a Rust panic
// and a version whose calls keep failing rolled back.
import { rpc, z } from "@plughost/sdk";

const EchoParams = z.object({ session_id: z.string(), data: z.string() });

rpc("jsecho.echo", { params: EchoParams }, (_conn, { session_id, data }) => ({ session_id, data, echoed: true, version: 2 }));

rpc("jsecho.fail", () => {
  throw new Error("database unreachable at /srv/secret/settings.js password=hunter2");
});

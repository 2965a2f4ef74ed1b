// Example plugin: `jsecho.echo` returns the terminal-input shape it was given, plus `echoed`.
import { rpc, z } from "@plughost/sdk";

const EchoParams = z.object({
  session_id: z.string().describe("Session UUID"),
  data: z.string().describe("Base64 encoded input"),
}).meta({ title: "EchoParams" });

const EchoReply = z.object({
  session_id: z.string().describe("Session UUID, as given"),
  data: z.string().describe("Base64 encoded input, as given"),
  echoed: z.literal(true).describe("Always true"),
}).meta({ title: "EchoReply" });

rpc("jsecho.echo", { params: EchoParams, result: EchoReply, doc: "Echoes the terminal-input shape back." },
  (_conn, { session_id, data }) => ({ session_id, data, echoed: true }));

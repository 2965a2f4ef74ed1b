// Fixture: outbound HTTP from JavaScript to any URL the caller names: through the SDK's
// `http` (wasi:http/outgoing-handler called directly), and through the engine's fetch
// (StarlingMonkey's), which still works beside it in a plugin granted "http".
import { http, rpc } from "@plughost/sdk";

rpc("jshttp.fetch", { doc: "Requests `url` with the SDK; a failure answers with its HttpError code." }, async (_conn, p) => {
  const init = { method: p.method ?? "GET" };
  if (p.body !== undefined) init.body = p.body;
  if (p.timeoutMs !== undefined) init.timeoutMs = p.timeoutMs;
  const res = await http.request(p.url, init);
  return { status: res.status, body: res.text() };
});

rpc("jshttp.raw", { doc: "Requests `url` with the engine's fetch; a rejection is returned as its text." }, async (_conn, p) => {
  try {
    const res = await globalThis.fetch(p.url, { redirect: "manual" });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    return { error: String(e) };
  }
});

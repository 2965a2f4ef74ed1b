// Fixture: outbound HTTP from JavaScript to any URL the caller names: through the SDK's
// `http` (StarlingMonkey's fetch over wasi:http), and through fetch itself, so the tests can
// see what the engine reports when the host refuses a request.
import { http, rpc } from "@plughost/sdk";

rpc("jshttp.fetch", { doc: "Requests `url` with the SDK; a failure answers with its HttpError code." }, async (_conn, p) => {
  const res = await http.request(p.url, { method: p.method ?? "GET" });
  return { status: res.status, body: res.text() };
});

rpc("jshttp.raw", { doc: "Requests `url` with the engine's fetch; a rejection is returned as its text." }, async (_conn, p) => {
  try {
    const res = await globalThis.fetch(p.url, { redirect: "manual" });
    return { status: res.status };
  } catch (e) {
    return { error: String(e), cause: e && e.cause !== undefined ? String(e.cause) : null };
  }
});

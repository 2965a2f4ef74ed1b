import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import {
  rpc, subscribe, reset, describe, handler, z, RpcError, codes,
  PublishError, TerminalError, KvError, HttpError, publish, broadcast, broadcastEach, history,
  log, config, terminal, kv, setHost,
} from "../src/index.js";
import { PluginTrap, TestHost, user, anonymous } from "../src/testing.js";
import { fromCode, parseUrl } from "../src/http.js";
import { http } from "../src/index.js";

const Echo = z.object({ session_id: z.string(), data: z.string() });
const Outer = z.object({
  inner: z.strictObject({ count: z.number().int().min(0).max(255) }),
  items: z.array(z.number()),
  mode: z.enum(["fast", "slow"]).optional(),
});

let host;
beforeEach(() => {
  reset();
  host = new TestHost();
  rpc("t.echo", Echo, (_conn, p) => ({ ...p, echoed: true }));
  rpc("t.outer", Outer, () => ({ ok: true }));
});

function err(method, params) {
  try {
    host.call(method, user("42"), params);
  } catch (e) {
    assert.ok(e instanceof RpcError, String(e));
    return e;
  }
  assert.fail("the call succeeded");
}

test("valid params reach the handler and the result is JSON", () => {
  assert.deepEqual(host.call("t.echo", user("42"), { session_id: "s", data: "ZA==" }), { session_id: "s", data: "ZA==", echoed: true });
});

test("wrong type names the field and hides the value", () => {
  const e = err("t.echo", { session_id: 12345678, data: "x" });
  assert.equal(e.code, 103);
  assert.equal(e.temporary, false);
  assert.equal(e.message, "invalid params: field 'session_id': invalid type, expected a string");
  assert.ok(!e.message.includes("12345678"));
});

test("missing fields are named as serde names them", () => {
  assert.equal(err("t.echo", { session_id: "s" }).message, "invalid params: missing field 'data'");
  assert.equal(err("t.echo", "").message, "invalid params: missing field 'session_id'");
  assert.equal(err("t.outer", { inner: {}, items: [] }).message, "invalid params: field 'inner': missing field 'count'");
});

test("nested paths, ranges, enums and unknown fields hide the value", () => {
  assert.equal(err("t.outer", { inner: { count: 1 }, items: [1, "secret"] }).message,
    "invalid params: field 'items[1]': invalid type, expected a number");
  const big = err("t.outer", { inner: { count: 4242 }, items: [] }).message;
  assert.equal(big, "invalid params: field 'inner.count': invalid value, expected at most 255");
  assert.ok(!big.includes("4242"));
  const variant = err("t.outer", { inner: { count: 1 }, items: [], mode: "secret, expected x" }).message;
  assert.equal(variant, "invalid params: field 'mode': unknown variant, expected one of `fast`, `slow`");
  assert.equal(err("t.outer", { inner: { count: 1, extra: 1 }, items: [] }).message,
    "invalid params: field 'inner.extra': unknown field 'extra'");
});

test("lengths are counted in the schema's units", () => {
  rpc("t.len", z.object({ id: z.string().min(1), tags: z.array(z.string()).max(2) }), () => 1);
  assert.equal(err("t.len", { id: "", tags: [] }).message, "invalid params: field 'id': invalid value, expected at least 1 character");
  assert.equal(err("t.len", { id: "x", tags: ["a", "b", "c"] }).message, "invalid params: field 'tags': invalid value, expected at most 2 items");
});

test("custom refinement messages are dropped", () => {
  rpc("t.secret", z.object({ pw: z.string().refine((v) => v !== "hunter2", { message: "must not be hunter2" }) }), () => 1);
  assert.equal(err("t.secret", { pw: "hunter2" }).message, "invalid params: field 'pw': invalid value");
});

test("not JSON, not an object", () => {
  assert.equal(err("t.echo", '{"session_id": "secret').message, "invalid params: not valid JSON");
  assert.equal(err("t.echo", "secret").message, "invalid params: not valid JSON");
  assert.equal(err("t.echo", '"secret"').message, "invalid params: invalid type, expected an object");
});

test("unknown method is 102 in the seed's words", () => {
  const e = err("t.nope", {});
  assert.equal(e.code, codes.METHOD_NOT_FOUND);
  assert.equal(e.message, "Method 't.nope' not found");
});

test("an unencodable result is 500", () => {
  rpc("t.big", () => ({ n: 1n }));
  const e = err("t.big", {});
  assert.equal(e.code, 500);
  assert.match(e.message, /^could not encode result: /);
});

test("a handler's RpcError reaches the client as it is; anything else traps, its stack on stderr", () => {
  rpc("t.fail", () => {
    throw new RpcError(1404, "no such room", true);
  });
  const e = err("t.fail", {});
  assert.deepEqual([e.code, e.message, e.temporary], [1404, "no such room", true]);
  rpc("t.bug", function buggyHandler() {
    throw new TypeError("boom");
  });
  assert.throws(() => host.call("t.bug", user("1"), {}), (t) => t instanceof PluginTrap && t.stderr.includes("TypeError: boom"));
  assert.match(host.stderr.at(-1), /buggyHandler/);
  // A host error the handler lets through stays an error reply.
  rpc("t.kv", () => {
    throw new KvError("access-denied");
  });
  assert.equal(err("t.kv", {}).code, codes.PERMISSION_DENIED);
});

test("a throwing subscribe handler traps too", () => {
  subscribe("room", () => {
    throw new Error("bug");
  });
  assert.throws(() => host.subscribe("room#1", user("1")), PluginTrap);
});

test("the component's export traps through wasi:cli/exit, with no reply", () => {
  rpc("t.exported", () => {
    throw new Error("secret detail");
  });
  const statuses = [];
  const stderr = [];
  const exit = { exit: (status) => { statuses.push(status); throw new Error("exited"); } };
  setHost({ log: { log() {} }, stderr: (t) => stderr.push(t), exit });
  assert.throws(() => handler.call(user("1"), "t.exported", new Uint8Array()), /exited/);
  assert.deepEqual(statuses, [{ tag: "err" }]);
  assert.match(stderr[0], /Error: secret detail/);
  host.install();
});

test("async handlers are awaited", async () => {
  rpc("t.async", async (_c, p) => ({ got: p.x }));
  assert.deepEqual(await host.call("t.async", user("1"), { x: 1 }), { got: 1 });
});

test("the component export speaks componentize-js: value, or a thrown payload", () => {
  const ok = handler.call(user("1"), "t.echo", new TextEncoder().encode('{"session_id":"s","data":"d"}'));
  assert.equal(new TextDecoder().decode(ok), '{"session_id":"s","data":"d","echoed":true}');
  assert.throws(() => handler.call(user("1"), "t.nope", new Uint8Array()), (e) => e.payload.code === 102 && e.payload.temporary === false);
});

test("describe publishes JSON Schemas with titles and docs", () => {
  rpc("t.documented", { params: Echo, result: z.object({ ok: z.boolean() }), doc: "Does things." }, () => ({ ok: true }));
  subscribe("room", () => undefined);
  const info = describe();
  const m = info.methods.find((m) => m.name === "t.documented");
  assert.equal(m.doc, "Does things.");
  const params = JSON.parse(m.paramsSchema);
  assert.equal(params.type, "object");
  assert.deepEqual(params.required, ["session_id", "data"]);
  assert.equal(params.title, "TDocumentedParams");
  assert.equal(JSON.parse(m.resultSchema).title, "TDocumentedResult");
  assert.deepEqual(info.subscribeNamespaces, ["room"]);
});

test("duplicate registrations fail", () => {
  assert.throws(() => rpc("t.echo", () => 1), /same method/);
  subscribe("x", () => undefined);
  assert.throws(() => subscribe("x", () => undefined), /same namespace/);
});

test("subscriptions: by namespace, refused without a handler", () => {
  subscribe("user", (conn, channel) => {
    if (channel !== `user#${conn.user}`) throw new RpcError(103, "permission denied");
    return { info: { name: "n" }, expireAt: 10 };
  });
  const g = host.subscribe("user#42", user("42"));
  assert.deepEqual(g, { info: '{"name":"n"}', data: undefined, expireAt: 10n });
  assert.throws(() => host.subscribe("user#7", user("42")), (e) => e.code === 103);
  assert.throws(() => host.subscribe("news", user("42")),
    (e) => e.code === 103 && e.message === "permission denied: no subscribe handler for this channel's namespace");
});

test("publish errors map to the Rust SDK's codes", () => {
  const cases = [
    [new PublishError("unauthorized"), 1001, false, "unauthorized"],
    [new PublishError("unknown-channel"), 1002, false, "unknown channel"],
    [new PublishError("denied", "channel x"), 1003, false, "permission denied: channel x"],
    [new PublishError("bad-request", "x"), 1007, false, "bad request: x"],
    [new PublishError("unavailable", "down"), 1008, true, "unavailable: down"],
    [new PublishError("timeout"), 1008, true, "timeout"],
  ];
  for (const [e, code, temporary, message] of cases) {
    assert.deepEqual([e.toRpcError().code, e.toRpcError().temporary, e.toRpcError().message], [code, temporary, message]);
  }
});

test("terminal, kv and http errors map to the Rust SDK's codes", () => {
  const t = [["not-found", 1004, false], ["denied", 1003, false], ["unavailable", 1008, true], ["timeout", 1008, true], ["limit-reached", 1009, true], ["invalid", 1007, false]];
  for (const [kind, code, temporary] of t) {
    const r = new TerminalError(kind, "x").toRpcError();
    assert.deepEqual([r.code, r.temporary], [code, temporary], kind);
  }
  const other = (text) => KvError.fromWit({ tag: "other", val: text }).toRpcError();
  assert.deepEqual([KvError.fromWit({ tag: "access-denied" }).toRpcError().code], [1003]);
  assert.equal(KvError.fromWit({ tag: "no-such-store" }).toRpcError().code, 1004);
  assert.deepEqual([other("limit: quota").code, other("limit: quota").temporary], [1009, false]);
  assert.deepEqual([other("unavailable: down").code, other("unavailable: down").temporary], [1008, true]);
  assert.equal(other("invalid: not a counter").code, 1007);
  assert.deepEqual([other("something else").code, other("something else").temporary], [1008, true]);
  assert.equal(KvError.fromWit({ tag: "other", val: "limit: a: b" }).detail, "a: b");
  assert.equal(new KvError("json", "x").toRpcError().code, 500);
  const h = [["denied", 1003, false], ["timeout", 1008, true], ["unavailable", 1008, true], ["too-large", 1009, false], ["other", 1007, false]];
  for (const [kind, code, temporary] of h) {
    const r = new HttpError(kind, "x").toRpcError();
    assert.deepEqual([r.code, r.temporary], [code, temporary], kind);
  }
  // wasi:http error-code cases (componentize-js's tags) sort as the Rust SDK's from_code.
  const wire = [
    [{ tag: "HTTP-request-denied" }, 1003, false, "outbound HTTP denied: HttpRequestDenied"],
    [{ tag: "destination-IP-prohibited" }, 1003, false, "outbound HTTP denied: DestinationIpProhibited"],
    [{ tag: "HTTP-response-timeout" }, 1008, true, "outbound HTTP timed out: HttpResponseTimeout"],
    [{ tag: "connection-limit-reached" }, 1008, true, "outbound HTTP timed out: ConnectionLimitReached"],
    [{ tag: "connection-refused" }, 1008, true, "outbound HTTP unavailable: ConnectionRefused"],
    [{ tag: "DNS-error", val: { rcode: "NXDOMAIN", infoCode: undefined } }, 1008, true, "outbound HTTP unavailable: DnsError(rcode: NXDOMAIN)"],
    [{ tag: "HTTP-response-body-size", val: 10n }, 1009, false, "outbound HTTP too large: HttpResponseBodySize(10)"],
    [{ tag: "HTTP-request-URI-invalid" }, 1007, false, "outbound HTTP failed: HttpRequestUriInvalid"],
  ];
  for (const [code, n, temporary, message] of wire) {
    const r = fromCode(code).toRpcError();
    assert.deepEqual([r.code, r.temporary, r.message], [n, temporary, message], code.tag);
  }
  assert.ok(!fromCode({ tag: "internal-error", val: "GET http://x/?token=secret failed" }).message.includes("secret"));
});

test("URLs split into request parts as the Rust SDK splits them", () => {
  assert.deepEqual(parseUrl("http://127.0.0.1:8000/users/42?x=1#frag"), { tls: false, authority: "127.0.0.1:8000", pathWithQuery: "/users/42?x=1" });
  assert.equal(parseUrl("HTTPS://api.example.com").pathWithQuery, "/");
  assert.equal(parseUrl("https://api.example.com?q").pathWithQuery, "/?q");
  for (const bad of ["ftp://example.com/", "example.com/users", "http:///path"]) {
    assert.throws(() => parseUrl(bad), (e) => e instanceof HttpError && e.kind === "other" && !e.message.includes("example"), bad);
  }
});

test("a thrown host error becomes its client error", () => {
  rpc("t.pub", () => {
    publish("user#1", { hi: 1 });
    return "ok";
  });
  assert.equal(host.call("t.pub", user("1"), {}), "ok");
  assert.deepEqual(host.published, [{ channel: "user#1", data: { hi: 1 } }]);
  host.failPublish("unavailable", "centrifugo is down");
  const e = err("t.pub", {});
  assert.deepEqual([e.code, e.temporary, e.message], [1008, true, "unavailable: centrifugo is down"]);
});

test("publish family, log and config go through the host", () => {
  assert.deepEqual(publish("a", 1), { offset: 1, epoch: "test" });
  broadcast(["b", "c"], { x: 1 });
  assert.deepEqual(broadcastEach(["d"], 2), [null]);
  assert.deepEqual(host.published.map((p) => p.channel), ["a", "b", "c", "d"]);
  host.history.set("h", [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(history("h", 1), [{ data: '{"a":2}', offset: 1 }]);
  assert.throws(() => publish("a", 1n), (e) => e instanceof PublishError && e.toRpcError().code === 1007);
  log.info("hello");
  assert.deepEqual(host.logs.at(-1), { level: "info", message: "hello" });
  host.config("greeting", "hi");
  assert.equal(config.get("greeting"), "hi");
  assert.equal(config.get("absent"), undefined);
});

test("terminal sessions", () => {
  const id = terminal.create({ owner: "42" });
  terminal.input(id, "ls\n");
  terminal.resize(id, 100, 40);
  assert.equal(terminal.owner(id), "42");
  terminal.close(id);
  assert.throws(() => terminal.close(id), (e) => e instanceof TerminalError && e.toRpcError().code === 1004);
});

test("key-value buckets", () => {
  const b = kv.open("main");
  b.setJson("room:lobby", ["hi"]);
  assert.deepEqual(b.getJson("room:lobby"), ["hi"]);
  assert.equal(b.increment("calls", 2), 2);
  assert.equal(b.increment("calls"), 3);
  b.set("room:x", "1");
  assert.deepEqual(b.keys("room:"), ["room:lobby", "room:x"]);
  assert.deepEqual(b.getMany(["room:x", "absent"]).map((v) => v && new TextDecoder().decode(v)), ["1", undefined]);
  assert.throws(() => b.setWithTtl("k", "v", 0), (e) => e instanceof KvError && e.toRpcError().code === 1007);
  b.set("bad", "{");
  assert.throws(() => b.getJson("bad"), (e) => e.toRpcError().code === 500);
  host.allowedBuckets = ["main"];
  assert.throws(() => kv.open("other"), (e) => e instanceof KvError && e.toRpcError().code === 1003);
});

test("anonymous conns and meta", () => {
  rpc("t.who", (conn) => ({ anon: conn.isAnonymous, meta: conn.meta ?? null }));
  assert.deepEqual(host.call("t.who", anonymous(), {}), { anon: true, meta: null });
  assert.deepEqual(host.call("t.who", user("1", { meta: '{"a":1}' }), {}), { anon: false, meta: { a: 1 } });
  assert.deepEqual(host.call("t.who", user("1", { meta: "not json" }), {}), { anon: false, meta: null });
});

test("http without the grant fails with advice instead of trapping", async () => {
  const { setHost } = await import("../src/host.js");
  setHost({ log: {} });
  await assert.rejects(http.get("http://127.0.0.1:9/"), (e) => e instanceof HttpError && e.kind === "denied" && /"http"/.test(e.message));
});

test("http answers from the registered routes, over the wasi:http bindings", async () => {
  host.httpJson("GET", "http://api.test/users/7", 200, { id: "7", name: "User 7" });
  const res = await http.get("http://API.test/users/7#ignored");
  assert.deepEqual([res.status, res.isSuccess, res.header("Content-Type")], [200, true, "application/json"]);
  assert.deepEqual(res.json(), { id: "7", name: "User 7" });
  assert.equal(res.text(), '{"id":"7","name":"User 7"}');
  assert.deepEqual(res.headers, [["content-type", "application/json"]]);
  // A status that is not 2xx is a response, not an error.
  const missing = await http.get("http://api.test/users/nobody");
  assert.deepEqual([missing.status, missing.isSuccess, missing.body.length], [404, false, 0]);
  assert.deepEqual(host.httpRequests.map((r) => [r.method, r.url]), [["GET", "http://API.test/users/7"], ["GET", "http://api.test/users/nobody"]]);
});

test("a request body goes out in chunks, with its length and the caller's headers", async () => {
  host.httpResponse("POST", "https://api.test/echo", { status: 201, body: "made" });
  const big = "x".repeat(10_000);
  const res = await http.postJson("https://api.test/echo", { big }, { headers: [["X-Trace", "t1"]], timeoutMs: 1500 });
  assert.equal(res.status, 201);
  const [sent] = host.httpRequests;
  assert.equal(new TextDecoder().decode(sent.body), JSON.stringify({ big }));
  assert.deepEqual(sent.headers, [["x-trace", "t1"], ["content-type", "application/json"], ["content-length", String(sent.body.length)]]);
  assert.deepEqual([sent.connectTimeoutMs, sent.firstByteTimeoutMs], [1500, 1500]);
  await http.request("https://api.test/echo", { method: "post", headers: { "content-type": "text/plain", "content-length": "3" }, body: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(host.httpRequests[1].headers, [["content-type", "text/plain"], ["content-length", "3"]]);
  assert.deepEqual([...host.httpRequests[1].body], [1, 2, 3]);
});

test("http failures map like the Rust SDK's and never name the URL", async () => {
  const fails = async (p, code, temporary, kind) => {
    await assert.rejects(p, (e) => {
      assert.ok(e instanceof HttpError, String(e));
      const r = e.toRpcError();
      assert.deepEqual([e.kind, r.code, r.temporary], [kind, code, temporary]);
      assert.ok(!r.message.includes("token") && !r.message.includes("api.test"), r.message);
      return true;
    });
  };
  // No route for the origin: what the host answers for one outside allowed_hosts.
  await fails(http.get("http://elsewhere.test/?token=1"), 1003, false, "denied");
  host.httpFailure("GET", "http://api.test/down?token=1", "connection-refused");
  await fails(http.get("http://api.test/down?token=1"), 1008, true, "unavailable");
  host.failHttp("HTTP-response-timeout");
  await fails(http.get("http://api.test/down?token=1"), 1008, true, "timeout");
  host.heal();
  // Past the plugin's max_response_body: the host says so only in the stream's error.
  host.httpMaxResponseBody = 100_000;
  host.httpResponse("GET", "http://api.test/big", { body: new Uint8Array(300_000) });
  await fails(http.get("http://api.test/big"), 1009, false, "too-large");
  host.httpMaxResponseBody = 300_000;
  assert.equal((await http.get("http://api.test/big")).body.length, 300_000);
  await fails(http.get("ftp://api.test/"), 1007, false, "other");
  await fails(http.request("http://api.test/", { headers: { host: "evil.test" } }), 1007, false, "other");
  await fails(http.postJson("http://api.test/", 1n), 1007, false, "other");
  await fails(http.get("http://api.test/", { timeoutMs: -1 }), 1007, false, "other");
  host.httpResponse("GET", "http://api.test/html", { body: "<html>secret</html>" });
  const html = await http.get("http://api.test/html");
  assert.throws(() => html.json(), (e) => e instanceof HttpError && e.toRpcError().code === 1007 && !e.message.includes("secret"));
});

test("a handler's uncaught HttpError answers the call with its code", async () => {
  rpc("t.fetch", async (_conn, p) => (await http.get(p.url)).json());
  host.httpJson("GET", "http://api.test/u", 200, { ok: 1 });
  assert.deepEqual(await host.call("t.fetch", user("1"), { url: "http://api.test/u" }), { ok: 1 });
  await assert.rejects(host.call("t.fetch", user("1"), { url: "http://other.test/u" }), (e) => e.code === 1003 && !e.temporary && !e.message.includes("other.test"));
  host.failHttp("connection-refused");
  await assert.rejects(host.call("t.fetch", user("1"), { url: "http://api.test/u" }), (e) => e.code === 1008 && e.temporary);
});

test("an async handler that throws traps too", async () => {
  rpc("t.asyncbug", async () => {
    throw new Error("secret detail");
  });
  await assert.rejects(host.call("t.asyncbug", user("1"), {}), (e) => e instanceof PluginTrap && e.stderr.includes("secret detail"));
});

test("the pure-JS UTF-8 codec (QuickJS has no TextEncoder) agrees with the native one", async () => {
  const saved = [globalThis.TextEncoder, globalThis.TextDecoder];
  globalThis.TextEncoder = undefined;
  globalThis.TextDecoder = undefined;
  let utf8;
  try {
    utf8 = await import("../src/utf8.js?pure");
  } finally {
    [globalThis.TextEncoder, globalThis.TextDecoder] = saved;
  }
  for (const s of ["", "abc", "héllo", "日本語", "emoji 😀 ok", "\u0000\u007f\u0080\u07ff\u0800\uffff"]) {
    const bytes = utf8.encodeUtf8(s);
    assert.deepEqual([...bytes], [...new TextEncoder().encode(s)], s);
    assert.equal(utf8.decodeUtf8(bytes, true), s);
  }
  assert.equal(utf8.encodeUtf8("\ud800").length, 3);
  for (const bad of [[0xff], [0xc0, 0x80], [0xe0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe6, 0x97]]) {
    assert.throws(() => utf8.decodeUtf8(Uint8Array.from(bad), true), TypeError, String(bad));
    assert.equal(utf8.decodeUtf8(Uint8Array.from(bad)).includes("\ufffd"), true);
  }
});

test("an engine without async exports gets 500 and a log line for a Promise, not a trap", async () => {
  const { setHost } = await import("../src/host.js");
  const logs = [];
  setHost({ asyncExports: false, log: { log: (level, message) => logs.push({ level, message }) } });
  rpc("t.promise", async () => 1);
  assert.throws(() => handler.call(user("1"), "t.promise", new Uint8Array()), (e) => e.payload.code === 500);
  assert.ok(logs.some((l) => l.message.includes("--engine quickjs")));
});

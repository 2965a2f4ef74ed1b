// @plughost/sdk: write plughost RPC plugins in JavaScript or TypeScript.
//
// rpc("name", schema, handler) registers a method whose params a zod schema checks (and
// whose JSON Schema `describe` publishes); subscribe("namespace", handler) authorises a
// channel namespace. The build (bin/plughost-js-build.js) bundles the plugin with this SDK
// and exports `handler`, the WIT `plughost:rpc/handler` export.

import { codes, RpcError, toRpcError } from "./errors.js";
import { encodeResult, parseParams, validate } from "./params.js";
import { toJSONSchema } from "zod";
import { asyncExports, log as hostLog, trap } from "./host.js";

export * from "./errors.js";
export { log, config, publish, publishBinary, broadcast, broadcastBinary, broadcastEach, broadcastBinaryEach, history, presence, terminal, kv, Bucket, setHost } from "./host.js";
export { http } from "./http.js";

/** @type {Map<string, {name: string, doc: string, params: any, result: any, handler: Function}>} */
const methods = new Map();
/** @type {Map<string, Function>} */
const subscribers = new Map();

function isSchema(s) {
  return s !== null && typeof s === "object" && (typeof s.safeParse === "function" || "~standard" in s);
}

/**
 * Registers `handler(conn, params)` as method `name`. `schema` is the params' zod schema, or
 * `{ params, result, doc }` (each optional: no params schema takes any object).
 */
export function rpc(name, schema, handler) {
  if (typeof name !== "string" || name === "") throw new TypeError("rpc: the method name must be a non-empty string");
  if (typeof schema === "function" && handler === undefined) {
    handler = schema;
    schema = {};
  }
  if (typeof handler !== "function") throw new TypeError(`rpc("${name}"): the handler must be a function`);
  const spec = isSchema(schema) ? { params: schema } : (schema ?? {});
  if (methods.has(name)) throw new Error(`rpc("${name}"): two handlers serve the same method`);
  methods.set(name, { name, doc: spec.doc ?? "", params: spec.params, result: spec.result, handler });
}

/**
 * Registers `handler(conn, channel, data)` as the authoriser of channels in `namespace` (the
 * part before the first `#`; `""` for channels without `#`). It returns a grant
 * `{ info?, data?, expireAt? }` (or nothing: allowed) or throws an RpcError to refuse.
 */
export function subscribe(namespace, handler) {
  if (typeof namespace !== "string") throw new TypeError("subscribe: the namespace must be a string");
  if (typeof handler !== "function") throw new TypeError(`subscribe("${namespace}"): the handler must be a function`);
  if (subscribers.has(namespace)) throw new Error(`subscribe("${namespace}"): two handlers serve the same namespace`);
  subscribers.set(namespace, handler);
}

/** Forgets every registration (tests). */
export function reset() {
  methods.clear();
  subscribers.clear();
}

/** The namespace of `channel` by Centrifugo's rule: before the first `#`, else `""`. */
export function namespaceOf(channel) {
  const i = channel.indexOf("#");
  return i < 0 ? "" : channel.slice(0, i);
}

function typeName(method, suffix) {
  const words = method.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((w) => w[0].toUpperCase() + w.slice(1)).join("") + suffix;
}

function schemaText(schema, io, title) {
  let json;
  if (!schema) {
    json = io === "input" ? { type: "object" } : {};
  } else if (typeof schema.safeParse === "function") {
    json = toJSONSchema(schema, { io, unrepresentable: "any" });
  } else if (typeof schema.toJSONSchema === "function") {
    json = schema.toJSONSchema();
  } else {
    json = {};
  }
  if (json && typeof json === "object" && json.title === undefined && Object.keys(json).length > 0) {
    json = { ...json, title };
  }
  return JSON.stringify(json);
}

/** The conn as handlers see it: meta decoded from JSON (undefined when absent or malformed). */
function toConn(ctx) {
  let meta;
  if (ctx.meta !== undefined && ctx.meta !== null) {
    try {
      meta = JSON.parse(ctx.meta);
    } catch {
      meta = undefined;
    }
  }
  return {
    client: ctx.client,
    user: ctx.user,
    transport: ctx.transport,
    protocol: ctx.protocol,
    encoding: ctx.encoding,
    meta,
    isAnonymous: ctx.user === "",
  };
}

/**
 * What a failed handler becomes: its client error (RpcError, host errors); anything else is a
 * bug in the plugin and traps the call like a Rust panic (`trap`: the error and its stack to
 * stderr, which the host logs under the request id, never in the reply; the client gets the
 * host's 500 and the call counts as a fault, so a faulting new version is rolled back).
 */
function fail(e) {
  const r = toRpcError(e);
  if (r) return { code: r.code >>> 0, message: String(r.message), temporary: !!r.temporary };
  trap(`handler threw: ${e && e.stack ? `${e}\n${e.stack}` : String(e)}`);
  // No exit import (a build without it): the host's 500 as a reply, the detail in its log.
  return internal(e);
}

/** 500 in the host's words for a trap, `Internal server error`, with the detail in the log. */
function internal(e) {
  try {
    hostLog.error(`handler threw: ${e && e.stack ? `${e}\n${e.stack}` : String(e)}`);
  } catch {
    // The log is best effort.
  }
  return { code: codes.INTERNAL, message: "Internal server error", temporary: false };
}

function finish(result, encode) {
  if (result === null || typeof result !== "object" || typeof result.then !== "function") return encode(result);
  if (!asyncExports()) {
    // A build mistake, not a fault of this version's logic: a reply, as before.
    return { err: internal(new Error("the handler returned a Promise, which a plugin built with --engine quickjs cannot wait for: make it synchronous or build with --engine starlingmonkey")) };
  }
  return result.then(encode, (e) => ({ err: fail(e) }));
}

/** Runs a call like the component's `call` export, but as `{ ok }` / `{ err }` (shared with testing). */
export function runMethod(ctx, method, params) {
  const m = methods.get(method);
  if (!m) return { err: fail(RpcError.methodNotFound(method)) };
  let result;
  try {
    const value = validate(m.params, parseParams(params));
    result = m.handler(toConn(ctx), value);
  } catch (e) {
    return { err: fail(e) };
  }
  return finish(result, (r) => {
    try {
      return { ok: encodeResult(r) };
    } catch (e) {
      return { err: fail(e) };
    }
  });
}

function grant(g) {
  const out = { info: undefined, data: undefined, expireAt: 0n };
  if (g === undefined || g === null || g === true) return out;
  if (g.info !== undefined) out.info = JSON.stringify(g.info);
  if (g.data !== undefined) out.data = JSON.stringify(g.data);
  out.expireAt = BigInt(g.expireAt ?? 0);
  return out;
}

/** Runs a subscription like the `subscribe` export, as `{ ok }` / `{ err }`. */
export function runSubscribe(ctx, channel, data) {
  const h = subscribers.get(namespaceOf(channel));
  if (!h) {
    return {
      err: fail(new RpcError(codes.INVALID_PARAMS, "permission denied: no subscribe handler for this channel's namespace")),
    };
  }
  let result;
  try {
    result = h(toConn(ctx), channel, data === null ? undefined : data);
  } catch (e) {
    return { err: fail(e) };
  }
  return finish(result, (g) => {
    try {
      return { ok: grant(g) };
    } catch (e) {
      return { err: fail(e) };
    }
  });
}

/** The `describe` export's value: every method with its schemas, and the namespaces. */
export function describe() {
  return {
    methods: [...methods.values()].map((m) => ({
      name: m.name,
      doc: m.doc,
      paramsSchema: schemaText(m.params, "input", typeName(m.name, "Params")),
      resultSchema: schemaText(m.result, "output", typeName(m.name, "Result")),
    })),
    subscribeNamespaces: [...subscribers.keys()],
  };
}

// componentize-js: returning a value is `ok`; throwing `{ payload }` is `err` with the payload.
function unwrap(r) {
  if ("ok" in r) return r.ok;
  throw { payload: r.err };
}

function settle(r) {
  return r !== null && typeof r.then === "function" ? r.then(unwrap) : unwrap(r);
}

/** The WIT `plughost:rpc/handler` export; the build entry re-exports it. */
export const handler = {
  describe,
  call(ctx, method, params) {
    return settle(runMethod(ctx, method, params));
  },
  subscribe(ctx, channel, data) {
    return settle(runSubscribe(ctx, channel, data));
  },
};
export { z } from "zod";

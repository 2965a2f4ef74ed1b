// The host functions, over the WIT imports the build wires in (`setHost`): each wrapper
// turns the interface's error variant into a typed error (PublishError, TerminalError,
// KvError) that a handler may throw as it is; the SDK maps it to the Rust SDK's client code.

import { KvError, PublishError, TerminalError } from "./errors.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/** @type {Record<string, any>} the WIT interfaces this build imports, by short name. */
let wit = {};

/**
 * Wires in the WIT imports: `{ log, config, publish, terminal, store, atomics, batch, kvTtl,
 * outgoingHandler, httpTypes, exit }` (those the plugin imports; the build entry does this). Tests
 * pass a fake with the same shape.
 */
export function setHost(bindings) {
  wit = { ...bindings };
}

/** `{ outgoingHandler, httpTypes }` (wasi:http), or `undefined` when built without the "http" grant. */
export function httpBindings() {
  return wit.outgoingHandler && wit.httpTypes ? { outgoingHandler: wit.outgoingHandler, httpTypes: wit.httpTypes } : undefined;
}

/**
 * Ends the call with a trap, as a Rust panic or a Python exception does: `text` (the error
 * and its stack) to stderr, which the host logs under the request id, then wasi:cli/exit
 * with an error status, which the host reports as a fault (500 to the client, counted for
 * rollback). Returns only when the build has no exit import (then the caller replies 500).
 */
export function trap(text) {
  // Tests bind `stderr` to capture the text; in the component console.error is its stderr.
  if (wit.stderr) wit.stderr(text);
  else if (typeof console !== "undefined") console.error(text);
  else if (wit.exit) {
    // QuickJS (componentize-qjs) has no console, but an exception escaping its export panics
    // the runtime: a trap too, with the exception's message and stack on stderr.
    throw new Error(text);
  }
  if (wit.exit) wit.exit.exit({ tag: "err" });
}

/** Whether exports may return a Promise the engine settles (StarlingMonkey does, QuickJS's sync runtime does not). */
export function asyncExports() {
  return wit.asyncExports !== false;
}

function iface(name, grant) {
  const i = wit[name];
  if (!i) {
    throw new Error(
      `@plughost/sdk: this plugin was built without the ${name} interface: add "${grant}" to the grants in its manifest and rebuild`,
    );
  }
  return i;
}

/** Runs a WIT call, turning its `result` error payload into `make(payload)`. */
function call(make, f) {
  try {
    return f();
  } catch (e) {
    if (e && typeof e === "object" && "payload" in e) throw make(e.payload);
    throw e;
  }
}

const publishError = (p) => new PublishError(p.tag, p.val);
const terminalError = (p) => new TerminalError(p.tag, p.val);
const kvError = (p) => KvError.fromWit(p);

function toJson(data) {
  let text;
  try {
    text = JSON.stringify(data);
  } catch (e) {
    throw new PublishError("bad-request", `data is not serializable: ${e && e.message ? e.message : e}`);
  }
  if (text === undefined) throw new PublishError("bad-request", "data is not serializable");
  return text;
}

function position(p) {
  return p === undefined || p === null ? undefined : { offset: Number(p.offset), epoch: p.epoch };
}

function bytes(data) {
  return typeof data === "string" ? encodeUtf8(data) : data;
}

// ---- log -------------------------------------------------------------------------------

function logAt(level) {
  return (message) => iface("log", "log").log(level, String(message));
}

/** Logging into the host's log; the host tags each line with the plugin and request id. */
export const log = Object.freeze({
  trace: logAt("trace"),
  debug: logAt("debug"),
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error"),
});

// ---- config ----------------------------------------------------------------------------

/** Read-only settings the operator grants (`grants = ["config"]`). */
export const config = Object.freeze({
  /** The value of `key`, or `undefined` when absent or not granted. */
  get(key) {
    const v = iface("config", "config").get(key);
    return v === null ? undefined : v;
  },
});

// ---- publish ---------------------------------------------------------------------------

/** Publishes `data` as JSON to `channel`; its stream position when history is on. */
export function publish(channel, data) {
  const text = toJson(data);
  return position(call(publishError, () => iface("publish", "publish").publish(channel, text)));
}

/** Publishes raw bytes (a `Uint8Array` or a string's UTF-8) to `channel`. */
export function publishBinary(channel, data) {
  return position(call(publishError, () => iface("publish", "publish").publishBinary(channel, bytes(data))));
}

/**
 * Publishes `data` as JSON to every channel in one server-API call; fails with the first
 * failed channel's error when any failed (the others were delivered: not atomic).
 */
export function broadcast(channels, data) {
  const text = toJson(data);
  call(publishError, () => iface("publish", "publish").broadcast([...channels], text));
}

/** `broadcast` with raw bytes. */
export function broadcastBinary(channels, data) {
  call(publishError, () => iface("publish", "publish").broadcastBinary([...channels], bytes(data)));
}

/** Each channel's outcome, in order: `null` when delivered, its `PublishError` otherwise. */
export function broadcastEach(channels, data) {
  const text = toJson(data);
  const each = call(publishError, () => iface("publish", "publish").broadcastEach([...channels], text));
  return each.map((e) => (e === undefined || e === null ? null : publishError(e)));
}

/** `broadcastEach` with raw bytes. */
export function broadcastBinaryEach(channels, data) {
  const each = call(publishError, () => iface("publish", "publish").broadcastBinaryEach([...channels], bytes(data)));
  return each.map((e) => (e === undefined || e === null ? null : publishError(e)));
}

/** Up to `limit` most recent publications of `channel`: `[{ data, offset }]` (data as JSON text). */
export function history(channel, limit) {
  const pubs = call(publishError, () => iface("publish", "publish").history(channel, limit));
  return pubs.map((p) => ({ data: p.data, offset: Number(p.offset) }));
}

/** The clients subscribed to `channel`: `[{ client, user }]`. */
export function presence(channel) {
  return call(publishError, () => iface("publish", "publish").presence(channel)).map((p) => ({
    client: p.client,
    user: p.user,
  }));
}

// ---- terminal --------------------------------------------------------------------------

/** Terminal sessions served by the terminal agent (`grants = ["terminal"]`). */
export const terminal = Object.freeze({
  /**
   * Starts a session owned by the calling user; returns its id. Options: `command`, `args`,
   * `cols` (80), `rows` (24), `env` (`[[name, value]]` or an object), `owner` (`""`).
   */
  create(options = {}) {
    const env = Array.isArray(options.env) ? options.env : Object.entries(options.env ?? {});
    const opts = {
      command: options.command ?? undefined,
      args: [...(options.args ?? [])],
      cols: options.cols ?? 80,
      rows: options.rows ?? 24,
      env: env.map(([k, v]) => [String(k), String(v)]),
      owner: options.owner ?? "",
    };
    return call(terminalError, () => iface("terminal", "terminal").create(opts));
  },
  /** Writes `data` (bytes or a string) to the session at once. */
  input(sessionId, data) {
    call(terminalError, () => iface("terminal", "terminal").input(sessionId, bytes(data)));
  },
  /** Writes input number `seq` (per session, from 1) in order. */
  inputSeq(sessionId, seq, data) {
    call(terminalError, () => iface("terminal", "terminal").inputSeq(sessionId, BigInt(seq), bytes(data)));
  },
  resize(sessionId, cols, rows) {
    call(terminalError, () => iface("terminal", "terminal").resize(sessionId, cols, rows));
  },
  close(sessionId) {
    call(terminalError, () => iface("terminal", "terminal").close(sessionId));
  },
  /** The user that owns the session. */
  owner(sessionId) {
    return call(terminalError, () => iface("terminal", "terminal").owner(sessionId));
  },
});

// ---- key-value -------------------------------------------------------------------------

/** A key-value bucket (`grants = ["kv"]`, listed under the manifest's `[kv]`). */
export class Bucket {
  /** @private */
  constructor(inner) {
    this.inner = inner;
  }
  /** Opens bucket `name`; `KvError` `access-denied` unless the manifest lists it. */
  static open(name) {
    return new Bucket(call(kvError, () => iface("store", "kv").open(name)));
  }
  /** The value of `key` (`Uint8Array`), `undefined` when absent or expired. */
  get(key) {
    const v = call(kvError, () => this.inner.get(key));
    return v === null ? undefined : v;
  }
  /** The value of `key` decoded from JSON, `undefined` when absent. */
  getJson(key) {
    const v = this.get(key);
    if (v === undefined) return undefined;
    try {
      return JSON.parse(decodeUtf8(v));
    } catch (e) {
      throw new KvError("json", e && e.message ? e.message : String(e));
    }
  }
  /** Sets `key` to `value` (bytes or a string), removing any expiry. */
  set(key, value) {
    call(kvError, () => this.inner.set(key, bytes(value)));
  }
  setJson(key, value) {
    this.set(key, jsonBytes(value));
  }
  /** Sets `key` to expire `ttlMs` milliseconds from now (at least 1). */
  setWithTtl(key, value, ttlMs) {
    const ms = BigInt(Math.ceil(Number(ttlMs)));
    call(kvError, () => iface("kvTtl", "kv").setWithTtl(this.inner, key, bytes(value), ms));
  }
  setJsonWithTtl(key, value, ttlMs) {
    this.setWithTtl(key, jsonBytes(value), ttlMs);
  }
  delete(key) {
    call(kvError, () => this.inner.delete(key));
  }
  exists(key) {
    return call(kvError, () => this.inner.exists(key));
  }
  /** Adds `delta` to the counter at `key` (absent: 0) atomically; returns the sum (a number). */
  increment(key, delta = 1) {
    return Number(call(kvError, () => iface("atomics", "kv").increment(this.inner, key, BigInt(delta))));
  }
  /** The values of `keys`, in order (`undefined` for an absent one). */
  getMany(keys) {
    const found = call(kvError, () => iface("batch", "kv").getMany(this.inner, [...keys]));
    return found.map((pair) => (pair === undefined || pair === null ? undefined : pair[1]));
  }
  /** Sets each `[key, value]`; not atomic. */
  setMany(pairs) {
    call(kvError, () => iface("batch", "kv").setMany(this.inner, pairs.map(([k, v]) => [k, bytes(v)])));
  }
  deleteMany(keys) {
    call(kvError, () => iface("batch", "kv").deleteMany(this.inner, [...keys]));
  }
  /** Every live key starting with `prefix`, sorted (pages through the whole bucket). */
  keys(prefix = "") {
    const keys = new Set();
    let cursor;
    for (;;) {
      const page = call(kvError, () => this.inner.listKeys(cursor));
      for (const k of page.keys) if (k.startsWith(prefix)) keys.add(k);
      const next = page.cursor;
      if (next === undefined || next === null || next === cursor) break;
      cursor = next;
    }
    return [...keys].sort();
  }
}

function jsonBytes(value) {
  let t;
  try {
    t = JSON.stringify(value);
  } catch (e) {
    throw new KvError("json", e && e.message ? e.message : String(e));
  }
  if (t === undefined) throw new KvError("json", "not JSON");
  return encodeUtf8(t);
}

/** `kv.open(name)`: the Rust SDK's `kv::Bucket::open`. */
export const kv = Object.freeze({ open: (name) => Bucket.open(name) });

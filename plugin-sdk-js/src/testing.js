// A fake host for native tests (`node --test`): it answers the WIT imports the way the real
// host does (errors as `{ payload }` throws), records what handlers publish, log and store,
// and runs calls through the same params decoding and error mapping as the component.
//
//   import { TestHost, user } from "@plughost/sdk/testing";
//   const host = new TestHost();            // installs itself as the host
//   host.call("jsecho.echo", user("42"), { session_id: "s", data: "d" });

import { RpcError } from "./errors.js";
import { setHost } from "./host.js";
import { runMethod, runSubscribe } from "./index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A conn of user `id`. */
export function user(id, extra = {}) {
  return { client: "test-client", user: String(id), transport: "websocket", protocol: "json", encoding: "json", meta: undefined, ...extra };
}

/** An anonymous conn. */
export function anonymous() {
  return user("");
}

/** A WIT-level failure: what a host import throws for a `result` error. */
function witError(tag, val) {
  const e = new Error(`host error: ${tag}`);
  e.payload = val === undefined ? { tag } : { tag, val };
  return e;
}

export class TestHost {
  constructor() {
    /** @type {{channel: string, data: any}[]} */
    this.published = [];
    /** @type {{level: string, message: string}[]} */
    this.logs = [];
    /** @type {Map<string, string>} */
    this.configValues = new Map();
    /** @type {Map<string, Map<string, Uint8Array>>} */
    this.buckets = new Map();
    /** bucket names a manifest would list (`undefined`: any). */
    this.allowedBuckets = undefined;
    this.history = new Map();
    this.presence = new Map();
    this.sessions = new Map();
    this.failures = {};
    this.install();
  }

  /** Makes this the host the SDK's wrappers call (the constructor does it). */
  install() {
    setHost(this.bindings());
    return this;
  }

  config(key, value) {
    this.configValues.set(key, value);
    return this;
  }

  /** Makes every publish-interface call fail with `tag` (`unavailable`, `denied`, ...). */
  failPublish(tag, val) {
    this.failures.publish = [tag, val];
    return this;
  }
  failTerminal(tag, val) {
    this.failures.terminal = [tag, val];
    return this;
  }
  /** Key-value failures: `no-such-store`, `access-denied`, or `other` with the host's text. */
  failKv(tag, val) {
    this.failures.kv = [tag, val];
    return this;
  }
  heal() {
    this.failures = {};
    return this;
  }

  /** Calls `method` as the component's export would; the decoded result, or throws RpcError. */
  call(method, conn, params = {}) {
    const text = typeof params === "string" ? params : JSON.stringify(params);
    const r = runMethod(conn, method, encoder.encode(text));
    const out = (r) => {
      if ("err" in r) throw new RpcError(r.err.code, r.err.message, r.err.temporary);
      return JSON.parse(decoder.decode(r.ok));
    };
    return typeof r.then === "function" ? r.then(out) : out(r);
  }

  /** Asks the subscribe handler of `channel`'s namespace; the grant, or throws RpcError. */
  subscribe(channel, conn, data) {
    const r = runSubscribe(conn, channel, data === undefined ? undefined : encoder.encode(JSON.stringify(data)));
    const out = (r) => {
      if ("err" in r) throw new RpcError(r.err.code, r.err.message, r.err.temporary);
      return r.ok;
    };
    return typeof r.then === "function" ? r.then(out) : out(r);
  }

  bindings() {
    const host = this;
    const check = (name) => {
      const f = host.failures[name];
      if (f) throw witError(f[0], f[1]);
    };
    const json = (text) => JSON.parse(text);
    const publish = {
      publish(channel, data) {
        check("publish");
        host.published.push({ channel, data: json(data) });
        return { offset: BigInt(host.published.length), epoch: "test" };
      },
      publishBinary(channel, data) {
        check("publish");
        host.published.push({ channel, data: Uint8Array.from(data) });
        return undefined;
      },
      broadcast(channels, data) {
        check("publish");
        if (channels.length === 0) throw witError("bad-request", "no channels");
        for (const channel of channels) host.published.push({ channel, data: json(data) });
      },
      broadcastBinary(channels, data) {
        check("publish");
        for (const channel of channels) host.published.push({ channel, data: Uint8Array.from(data) });
      },
      broadcastEach(channels, data) {
        this.broadcast(channels, data);
        return channels.map(() => undefined);
      },
      broadcastBinaryEach(channels, data) {
        this.broadcastBinary(channels, data);
        return channels.map(() => undefined);
      },
      history(channel, limit) {
        check("publish");
        return (host.history.get(channel) ?? []).slice(-limit).map((d, i) => ({ data: JSON.stringify(d), offset: BigInt(i + 1) }));
      },
      presence(channel) {
        check("publish");
        return host.presence.get(channel) ?? [];
      },
    };
    let nextSession = 1;
    const session = (id) => {
      check("terminal");
      const s = host.sessions.get(id);
      if (!s) throw witError("not-found");
      return s;
    };
    const terminal = {
      create(options) {
        check("terminal");
        const id = `session-${nextSession++}`;
        host.sessions.set(id, { options, input: [], closed: false });
        return id;
      },
      input(id, data) {
        session(id).input.push(Uint8Array.from(data));
      },
      inputSeq(id, seq, data) {
        session(id).input.push(Uint8Array.from(data));
      },
      resize(id, cols, rows) {
        Object.assign(session(id).options, { cols, rows });
      },
      close(id) {
        session(id);
        host.sessions.delete(id);
      },
      owner(id) {
        return session(id).options.owner;
      },
    };
    const bucketOf = (name) => {
      if (!host.buckets.has(name)) host.buckets.set(name, new Map());
      return host.buckets.get(name);
    };
    class FakeBucket {
      constructor(name) {
        this.name = name;
        this.map = bucketOf(name);
      }
      get(key) {
        check("kv");
        return this.map.get(key);
      }
      set(key, value) {
        check("kv");
        this.map.set(key, Uint8Array.from(value));
      }
      delete(key) {
        check("kv");
        this.map.delete(key);
      }
      exists(key) {
        check("kv");
        return this.map.has(key);
      }
      listKeys(cursor) {
        check("kv");
        return { keys: [...this.map.keys()], cursor: undefined };
      }
    }
    const store = {
      open(name) {
        check("kv");
        if (host.allowedBuckets && !host.allowedBuckets.includes(name)) throw witError("access-denied");
        return new FakeBucket(name);
      },
    };
    const atomics = {
      increment(bucket, key, delta) {
        check("kv");
        const old = bucket.map.get(key);
        const n = old === undefined ? 0n : BigInt(decoder.decode(old));
        const sum = n + delta;
        bucket.map.set(key, encoder.encode(String(sum)));
        return sum;
      },
    };
    const batch = {
      getMany(bucket, keys) {
        check("kv");
        return keys.map((k) => (bucket.map.has(k) ? [k, bucket.map.get(k)] : undefined));
      },
      setMany(bucket, pairs) {
        check("kv");
        for (const [k, v] of pairs) bucket.map.set(k, Uint8Array.from(v));
      },
      deleteMany(bucket, keys) {
        check("kv");
        for (const k of keys) bucket.map.delete(k);
      },
    };
    const kvTtl = {
      setWithTtl(bucket, key, value, ttlMs) {
        check("kv");
        if (ttlMs === 0n) throw witError("other", "invalid: ttl must be at least 1 ms");
        bucket.map.set(key, Uint8Array.from(value));
      },
    };
    return {
      log: { log: (level, message) => host.logs.push({ level, message }) },
      config: { get: (key) => host.configValues.get(key) },
      publish,
      terminal,
      store,
      atomics,
      batch,
      kvTtl,
    };
  }
}

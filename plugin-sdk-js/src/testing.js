// A fake host for native tests (`node --test`): it answers the WIT imports the way the real
// host does (errors as `{ payload }` throws), records what handlers publish, log, store and
// send over HTTP (answered from registered routes), and runs calls through the same params
// decoding and error mapping as the component.
//
//   import { TestHost, user } from "@plughost/sdk/testing";
//   const host = new TestHost();            // installs itself as the host
//   host.call("jsecho.echo", user("42"), { session_id: "s", data: "d" });

import { RpcError } from "./errors.js";
import { setHost } from "./host.js";
import { parseUrl } from "./http.js";
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

/**
 * What `call` and `subscribe` throw when the handler threw something other than an RpcError
 * or a host error: in the component that call traps (the host answers 500 with a request id
 * and counts a fault). `stderr` is what the guest wrote before it (the error and its stack).
 */
export class PluginTrap extends Error {
  constructor(stderr) {
    super(`the call trapped: ${stderr.split("\n")[0]}`);
    this.name = "PluginTrap";
    this.stderr = stderr;
  }
}

export class TestHost {
  constructor() {
    /** @type {{channel: string, data: any}[]} */
    this.published = [];
    /** @type {{level: string, message: string}[]} */
    this.logs = [];
    /** What handlers wrote to stderr (the text of each trap), in order. */
    this.stderr = [];
    /** @type {Map<string, string>} */
    this.configValues = new Map();
    /** @type {Map<string, Map<string, Uint8Array>>} */
    this.buckets = new Map();
    /** bucket names a manifest would list (`undefined`: any). */
    this.allowedBuckets = undefined;
    this.history = new Map();
    this.presence = new Map();
    this.sessions = new Map();
    /** @type {{method: string, url: string, headers: [string, string][], body: Uint8Array, connectTimeoutMs?: number, firstByteTimeoutMs?: number}[]} */
    this.httpRequests = [];
    /** what `httpResponse`, `httpJson` and `httpFailure` registered, latest last. */
    this.httpRoutes = [];
    /** the manifest's `[http] max_response_body` (the host's default: 4 MiB). */
    this.httpMaxResponseBody = 4 * 1024 * 1024;
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
  /** Fails every HTTP request with wasi:http error-code `tag` (`connection-refused`, `HTTP-request-denied`, ...). */
  failHttp(tag, val) {
    this.failures.http = [tag, val];
    return this;
  }
  /** Removes the injected failures (not the registered HTTP routes). */
  heal() {
    this.failures = {};
    return this;
  }

  /**
   * Answers `method url` with `{ status = 200, headers = {}, body = "" }` (body: text or bytes).
   * The URL is compared by scheme, host and port (any case) and path with query. A request
   * to an origin with nothing registered is denied (error-code `HTTP-request-denied`, 1003),
   * like one outside the manifest's `allowed_hosts`; a registered origin answers 404 for
   * other paths.
   */
  httpResponse(method, url, response = {}) {
    const body = response.body ?? "";
    return addRoute(this, method, url, {
      status: response.status ?? 200,
      headers: Array.isArray(response.headers) ? response.headers : Object.entries(response.headers ?? {}),
      body: typeof body === "string" ? encoder.encode(body) : Uint8Array.from(body),
    });
  }
  /** Answers `method url` with `status` and `value` as JSON. */
  httpJson(method, url, status, value) {
    return this.httpResponse(method, url, { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) });
  }
  /** Fails `method url` with wasi:http error-code `tag` (and payload `val`), as the host reports it. */
  httpFailure(method, url, tag, val) {
    return addRoute(this, method, url, { code: val === undefined ? { tag } : { tag, val } });
  }

  /**
   * Calls `method` as the component's export would; the decoded result, or throws RpcError
   * (an error reply) or PluginTrap (the call trapped).
   */
  call(method, conn, params = {}) {
    const text = typeof params === "string" ? params : JSON.stringify(params);
    const r = runMethod(conn, method, encoder.encode(text));
    const out = (r) => {
      if ("err" in r) throw new RpcError(r.err.code, r.err.message, r.err.temporary);
      return JSON.parse(decoder.decode(r.ok));
    };
    return typeof r.then === "function" ? r.then(out) : out(r);
  }

  /** Asks the subscribe handler of `channel`'s namespace; the grant, or throws RpcError or PluginTrap. */
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
    const { outgoingHandler, httpTypes } = fakeHttp(host);
    return {
      log: { log: (level, message) => host.logs.push({ level, message }) },
      stderr: (text) => host.stderr.push(text),
      // wasi:cli/exit: in the component exit(err) ends the call with a trap and never returns.
      exit: {
        exit(status) {
          if (status?.tag !== "err") throw new Error("fake wasi:cli/exit: the SDK exits only with an error status");
          throw new PluginTrap(host.stderr.at(-1) ?? "");
        },
      },
      config: { get: (key) => host.configValues.get(key) },
      publish,
      terminal,
      store,
      atomics,
      batch,
      kvTtl,
      outgoingHandler,
      httpTypes,
    };
  }
}

// ---- wasi:http ---------------------------------------------------------------------------
//
// wasi:http/outgoing-handler and types shaped as componentize-js binds them (resources as
// classes dropped with Symbol.dispose, `result` errors thrown as `{ payload }`, nested results
// and variants as `{ tag, val }`), so the SDK's own client runs in native tests. Like the host,
// it refuses a parent dropped or finished before its children, and writes over 4096 bytes.

const DISPOSE = Symbol.dispose ?? Symbol.for("dispose");
const FORBIDDEN_HEADERS = new Set(["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"]);

/** A failed WIT call whose error payload is `payload` (for `result<_, ()>`: undefined). */
function witFailure(payload) {
  const e = new Error("host error (see error.payload)");
  e.payload = payload;
  return e;
}

class FakeResource {
  constructor(parent) {
    this.children = new Set();
    this.parent = parent;
    this.dropped = false;
    if (parent) parent.children.add(this);
  }
  /** @protected what the host checks: a resource with live children cannot go. */
  release() {
    if (this.dropped) throw new Error("fake wasi:http: resource used after it was dropped");
    if (this.children.size > 0) {
      throw new Error(`fake wasi:http: ${this.constructor.name} dropped while ${[...this.children][0].constructor.name} (its child) is alive; the host traps`);
    }
    this.dropped = true;
    if (this.parent) this.parent.children.delete(this);
  }
  [DISPOSE]() {
    this.release();
  }
}

function fakeHttp(host) {
  class Fields extends FakeResource {
    constructor(entries = [], immutable = false, parent = undefined) {
      super(parent);
      this.list = entries.map(([n, v]) => [n, Uint8Array.from(v)]);
      this.immutable = immutable;
    }
    append(name, value) {
      if (this.immutable) throw witFailure({ tag: "immutable" });
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw witFailure({ tag: "invalid-syntax" });
      if (FORBIDDEN_HEADERS.has(name.toLowerCase())) throw witFailure({ tag: "forbidden" });
      this.list.push([name, Uint8Array.from(value)]);
    }
    entries() {
      return this.list.map(([n, v]) => [n, Uint8Array.from(v)]);
    }
  }
  class OutputStream extends FakeResource {
    constructor(body) {
      super(body);
      this.body = body;
    }
    blockingWriteAndFlush(bytes) {
      if (bytes.length > 4096) throw witFailure({ tag: "last-operation-failed", val: new IoError("write over 4096 bytes") });
      this.body.chunks.push(Uint8Array.from(bytes));
    }
  }
  class OutgoingBody extends FakeResource {
    constructor(request) {
      super();
      this.request = request;
      this.chunks = [];
      this.finished = false;
    }
    write() {
      if (this.stream) throw witFailure(undefined);
      this.stream = new OutputStream(this);
      return this.stream;
    }
    static finish(body, _trailers) {
      body.release();
      body.finished = true;
    }
  }
  class OutgoingRequest extends FakeResource {
    constructor(fields) {
      super();
      this.fields = fields;
      this.method = { tag: "get" };
      this.scheme = undefined;
      this.authority = undefined;
      this.path = undefined;
    }
    setMethod(m) {
      this.method = m;
    }
    setScheme(s) {
      this.scheme = s;
    }
    setAuthority(a) {
      this.authority = a;
    }
    setPathWithQuery(p) {
      this.path = p;
    }
    body() {
      if (this.outgoingBody) throw witFailure(undefined);
      this.outgoingBody = new OutgoingBody(this);
      return this.outgoingBody;
    }
  }
  class RequestOptions extends FakeResource {
    setConnectTimeout(ns) {
      this.connect = ns;
    }
    setFirstByteTimeout(ns) {
      this.firstByte = ns;
    }
  }
  class IoError extends FakeResource {
    constructor(text, code) {
      super();
      this.text = text;
      this.code = code;
    }
    toDebugString() {
      return this.text;
    }
  }
  class InputStream extends FakeResource {
    constructor(body) {
      super(body);
      this.body = body;
      this.at = 0;
    }
    blockingRead(len) {
      const { bytes } = this.body;
      const cap = host.httpMaxResponseBody;
      if (this.at >= bytes.length) throw witFailure({ tag: "closed" });
      if (this.at >= cap) {
        // As the host: the body stops at the cap, the code only inside the stream error.
        throw witFailure({ tag: "last-operation-failed", val: new IoError("response body size exceeds limit", { tag: "HTTP-response-body-size", val: BigInt(cap) }) });
      }
      const n = Math.min(Number(len), bytes.length - this.at, cap - this.at);
      const chunk = bytes.slice(this.at, this.at + n);
      this.at += n;
      return chunk;
    }
  }
  class FutureTrailers extends FakeResource {}
  class IncomingBody extends FakeResource {
    constructor(bytes) {
      super();
      this.bytes = bytes;
    }
    stream() {
      if (this.input) throw witFailure(undefined);
      this.input = new InputStream(this);
      return this.input;
    }
    static finish(body) {
      body.release();
      return new FutureTrailers();
    }
  }
  class IncomingResponse extends FakeResource {
    constructor(answer) {
      super();
      this.answer = answer;
    }
    status() {
      return this.answer.status;
    }
    headers() {
      return new Fields(this.answer.headers.map(([n, v]) => [n, typeof v === "string" ? encoder.encode(v) : v]), true, this);
    }
    consume() {
      if (this.consumed) throw witFailure(undefined);
      this.consumed = true;
      return new IncomingBody(this.answer.body);
    }
  }
  class Pollable extends FakeResource {
    block() {
      this.parent.ready = true;
    }
  }
  class FutureIncomingResponse extends FakeResource {
    constructor(request, options) {
      super();
      this.request = request;
      this.options = options;
      // Not ready at first, so the SDK's wait loop is exercised.
      this.ready = false;
    }
    subscribe() {
      return new Pollable(this);
    }
    get() {
      if (!this.ready) return undefined;
      if (this.taken) return { tag: "err", val: undefined };
      this.taken = true;
      const r = this.request;
      const body = r.outgoingBody;
      if (!body || !body.finished) return { tag: "ok", val: { tag: "err", val: { tag: "HTTP-request-body-size", val: undefined } } };
      const scheme = r.scheme && r.scheme.tag === "HTTPS" ? "https" : "http";
      const method = r.method.tag === "other" ? r.method.val : r.method.tag.toUpperCase();
      const sent = {
        method,
        url: `${scheme}://${r.authority}${r.path}`,
        headers: r.fields.list.map(([n, v]) => [n, decoder.decode(v)]),
        body: concatBytes(body.chunks),
      };
      if (this.options?.connect !== undefined) sent.connectTimeoutMs = Number(this.options.connect) / 1e6;
      if (this.options?.firstByte !== undefined) sent.firstByteTimeoutMs = Number(this.options.firstByte) / 1e6;
      host.httpRequests.push(sent);
      const answer = respond(host, method, scheme === "https", String(r.authority).toLowerCase(), r.path);
      if (answer.code) return { tag: "ok", val: { tag: "err", val: answer.code } };
      return { tag: "ok", val: { tag: "ok", val: new IncomingResponse(answer) } };
    }
  }
  const outgoingHandler = {
    handle(request, options) {
      if (!request.scheme || !request.authority) throw witFailure({ tag: "HTTP-request-URI-invalid" });
      return new FutureIncomingResponse(request, options);
    },
  };
  const httpTypes = {
    Fields,
    OutgoingRequest,
    OutgoingBody,
    RequestOptions,
    IncomingResponse,
    IncomingBody,
    FutureIncomingResponse,
    FutureTrailers,
    httpErrorCode: (e) => e.code,
  };
  return { outgoingHandler, httpTypes };
}

function concatBytes(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function addRoute(host, method, url, answer) {
  const { tls, authority, pathWithQuery } = parseUrl(url);
  host.httpRoutes.push({ method: method.toUpperCase(), tls, authority: authority.toLowerCase(), pathWithQuery, answer });
  return host;
}

/** The registered answer to a request: `{ status, headers, body }` or `{ code }`. */
function respond(host, method, tls, authority, path) {
  if (host.failures.http) {
    const [tag, val] = host.failures.http;
    return { code: val === undefined ? { tag } : { tag, val } };
  }
  const sameOrigin = (r) => r.tls === tls && r.authority === authority;
  const route = [...host.httpRoutes].reverse().find((r) => r.method === method && sameOrigin(r) && r.pathWithQuery === path);
  if (route) return route.answer;
  if (host.httpRoutes.some(sameOrigin)) return { status: 404, headers: [], body: new Uint8Array(0) };
  // Like an origin outside the manifest's allowed_hosts.
  return { code: { tag: "HTTP-request-denied" } };
}

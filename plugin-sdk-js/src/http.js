// Outbound HTTP: a small blocking client over the standard wasi:http/outgoing-handler, as the
// Rust SDK's (plugin-sdk/src/http.rs). The build imports wasi:http/outgoing-handler and types
// for a plugin granted "http" and passes them in (host.js). Not the engine's `fetch`:
// StarlingMonkey's rejects every failure with one text, so a denied origin (1003) could not
// be told from an outage (1008). Failures become HttpError with the Rust SDK's codes; messages
// name the kind of failure, never the URL or a body.

import { HttpError } from "./errors.js";
import { httpBindings } from "./host.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/** Bytes written to the request body per call (the most `blocking-write-and-flush` takes). */
const WRITE_CHUNK = 4096;
/** Bytes asked for per read of the response body. */
const READ_CHUNK = 64n * 1024n;

// componentize-js gives resources this method to drop them now; the FinalizationRegistry it
// falls back on runs in no set order, and the host traps on a parent dropped before a child.
const DISPOSE = Symbol.dispose ?? Symbol.for("dispose");

/** Drops a WIT resource now (children before parents); `undefined` is skipped. */
function dispose(resource) {
  if (resource && typeof resource[DISPOSE] === "function") resource[DISPOSE]();
}

// wasi:http error-code cases (as componentize-js tags them) by kind, sorted as the Rust SDK
// sorts them; the rest are "other".
const KIND_OF_CODE = {
  "HTTP-request-denied": "denied",
  "destination-IP-prohibited": "denied",
  "DNS-timeout": "timeout",
  "connection-timeout": "timeout",
  "connection-read-timeout": "timeout",
  "connection-write-timeout": "timeout",
  "connection-limit-reached": "timeout",
  "HTTP-response-timeout": "timeout",
  "DNS-error": "unavailable",
  "destination-not-found": "unavailable",
  "destination-unavailable": "unavailable",
  "destination-IP-unroutable": "unavailable",
  "connection-refused": "unavailable",
  "connection-terminated": "unavailable",
  "TLS-protocol-error": "unavailable",
  "TLS-certificate-error": "unavailable",
  "TLS-alert-received": "unavailable",
  "HTTP-response-incomplete": "unavailable",
  "HTTP-request-body-size": "too-large",
  "HTTP-request-header-section-size": "too-large",
  "HTTP-request-header-size": "too-large",
  "HTTP-request-trailer-section-size": "too-large",
  "HTTP-request-trailer-size": "too-large",
  "HTTP-response-body-size": "too-large",
  "HTTP-response-header-section-size": "too-large",
  "HTTP-response-header-size": "too-large",
  "HTTP-response-trailer-section-size": "too-large",
  "HTTP-response-trailer-size": "too-large",
};

/** A WIT case name as the Rust SDK prints it: `HTTP-request-denied` -> `HttpRequestDenied`. */
function caseName(tag) {
  return String(tag)
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join("");
}

/** A code's payload as short text; host texts lose any URL (it may carry tokens). */
function payloadText(val) {
  if (val === undefined || val === null) return "";
  const text =
    typeof val === "object"
      ? Object.entries(val)
          .filter(([, v]) => v !== undefined && v !== null)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ")
      : String(val);
  return text === "" ? "" : `(${text.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "<url>")})`;
}

/** The HttpError a wasi:http `error-code` (`{ tag, val }`) is. */
export function fromCode(code) {
  const tag = code && typeof code === "object" ? code.tag : code;
  return new HttpError(KIND_OF_CODE[tag] ?? "other", caseName(tag) + payloadText(code && code.val));
}

/**
 * The kind of failure a broken response body is. The host reports some (a body past the cap,
 * the deadline mid-body) only as the stream error's text, without an error-code, so that
 * text is read when there is no code.
 */
function fromStream(types, ioError) {
  try {
    const code = types.httpErrorCode(ioError);
    if (code !== undefined && code !== null) return fromCode(code);
    const text = String(ioError.toDebugString());
    if (text.includes("HttpResponseBodySize") || text.includes("response body size exceeds")) {
      return new HttpError("too-large", "the response body is larger than this plugin's max_response_body");
    }
    if (text.toLowerCase().includes("timeout")) return new HttpError("timeout", "the response body did not arrive in time");
    return new HttpError("unavailable", "the response body broke off");
  } finally {
    dispose(ioError);
  }
}

/** The payload of a WIT `result` error a binding threw; rethrows anything else. */
function payloadOf(e) {
  if (e && typeof e === "object" && "payload" in e) return e.payload;
  throw e;
}

/**
 * The parts of an `http://` or `https://` URL a request is made of, split as the Rust SDK
 * does: the host, not the plugin, decides what an origin is.
 */
export function parseUrl(url) {
  const invalid = (why) => new HttpError("other", `the URL is not valid: ${why}`);
  const text = String(url);
  const sep = text.indexOf("://");
  if (sep < 0) throw invalid("no scheme");
  const scheme = text.slice(0, sep).toLowerCase();
  if (scheme !== "http" && scheme !== "https") throw invalid("the scheme is not http or https");
  // The fragment is the client's own business; it is never sent.
  const rest = text.slice(sep + 3).split("#")[0];
  const ends = [rest.indexOf("/"), rest.indexOf("?")].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) : rest.length;
  const authority = rest.slice(0, end);
  const path = rest.slice(end);
  if (authority === "") throw invalid("no host");
  const pathWithQuery = path === "" ? "/" : path.startsWith("?") ? `/${path}` : path;
  return { tls: scheme === "https", authority, pathWithQuery };
}

const METHODS = new Set(["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"]);

function methodCase(name) {
  const lower = String(name).toLowerCase();
  return METHODS.has(lower) ? { tag: lower } : { tag: "other", val: String(name) };
}

function asBytes(v) {
  if (typeof v === "string") return encodeUtf8(v);
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

/** `init.headers` (an object, `[name, value]` pairs or a Headers-like iterable) as `[name, bytes]`. */
function headerPairs(headers) {
  if (headers === undefined || headers === null) return [];
  const entries =
    typeof headers[Symbol.iterator] === "function" && typeof headers !== "string"
      ? [...headers]
      : Object.entries(headers);
  return entries.map(([name, value]) => [String(name).toLowerCase(), asBytes(value) ?? encodeUtf8(String(value))]);
}

function bodyBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  const bytes = asBytes(body);
  if (!bytes) throw new HttpError("other", "the body must be a string, a Uint8Array or an ArrayBuffer");
  return bytes;
}

/** wasi:http durations are nanoseconds. */
function nanos(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) throw new HttpError("other", "timeoutMs must be a positive number of milliseconds");
  return BigInt(Math.max(1, Math.round(n * 1e6)));
}

/** Calls a setter that returns `result<_, ()>`; a refusal is `the <what> is not valid`. */
function set(what, f) {
  try {
    f();
  } catch (e) {
    payloadOf(e);
    throw new HttpError("other", `the ${what} is not valid`);
  }
}

/** Writes `data` to the request body and finishes it; false when the host refused (the response says why). */
function writeBody(types, body, data) {
  let stream;
  try {
    if (data.length > 0) {
      stream = body.write();
      for (let i = 0; i < data.length; i += WRITE_CHUNK) {
        stream.blockingWriteAndFlush(data.subarray(i, i + WRITE_CHUNK));
      }
      // A child of the body: dropped before the body is finished, or the host traps.
      dispose(stream);
      stream = undefined;
    }
    types.OutgoingBody.finish(body, undefined);
    return true;
  } catch (e) {
    payloadOf(e);
    dispose(stream);
    // Dropped unfinished: the host treats the request body as broken off.
    dispose(body);
    return false;
  }
}

/** Blocks until the response head (or its error-code) is in. */
function wait(pending) {
  for (;;) {
    const ready = pending.get();
    if (ready === undefined || ready === null) {
      const pollable = pending.subscribe();
      try {
        pollable.block();
      } finally {
        dispose(pollable);
      }
      continue;
    }
    if (ready.tag !== "ok") throw new HttpError("other", "the response was already taken");
    if (ready.val.tag !== "ok") throw fromCode(ready.val.val);
    return ready.val.val;
  }
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Status, headers and the whole body (the host stops it at the plugin's max_response_body). */
function readResponse(types, response) {
  const status = response.status();
  const fields = response.headers();
  let headers;
  try {
    headers = fields.entries().map(([name, value]) => [String(name).toLowerCase(), decodeUtf8(value)]);
  } finally {
    dispose(fields);
  }
  let incoming;
  try {
    incoming = response.consume();
  } catch (e) {
    payloadOf(e);
    throw new HttpError("other", "the response body is unavailable");
  }
  const chunks = [];
  let total = 0;
  let stream;
  try {
    try {
      stream = incoming.stream();
    } catch (e) {
      payloadOf(e);
      throw new HttpError("other", "the response body is unavailable");
    }
    for (;;) {
      let chunk;
      try {
        chunk = stream.blockingRead(READ_CHUNK);
      } catch (e) {
        const p = payloadOf(e);
        if (p && p.tag === "closed") break;
        if (!p || !p.val) throw new HttpError("unavailable", "the response body broke off");
        throw fromStream(types, p.val);
      }
      chunks.push(chunk);
      total += chunk.length;
    }
  } catch (e) {
    // Dropped unfinished: the body broke off, there are no trailers to wait for.
    dispose(stream);
    dispose(incoming);
    throw e;
  }
  dispose(stream);
  dispose(types.IncomingBody.finish(incoming));
  return { status, headers, body: concat(chunks, total) };
}

/** Sends the request and reads the whole response, blocking this handler meanwhile. */
function send(url, init) {
  const bindings = httpBindings();
  if (!bindings) {
    throw new HttpError("denied", 'this plugin was built without HTTP: add "http" to the grants in its manifest and rebuild');
  }
  const { outgoingHandler, httpTypes: types } = bindings;
  const { tls, authority, pathWithQuery } = parseUrl(url);
  const pairs = headerPairs(init.headers);
  const data = bodyBytes(init.body);
  // A declared length: many servers (WSGI among them) do not read chunked bodies.
  if (data.length > 0 && !pairs.some(([n]) => n === "content-length")) {
    pairs.push(["content-length", encodeUtf8(String(data.length))]);
  }
  const fields = new types.Fields();
  for (const [name, value] of pairs) {
    try {
      fields.append(name, value);
    } catch (e) {
      const p = payloadOf(e);
      dispose(fields);
      throw new HttpError("other", `header ${JSON.stringify(name)} refused: ${p && p.tag ? p.tag : "invalid"}`);
    }
  }
  const request = new types.OutgoingRequest(fields);
  let options;
  let body;
  try {
    set("method", () => request.setMethod(methodCase(init.method ?? "GET")));
    set("URL's scheme", () => request.setScheme({ tag: tls ? "HTTPS" : "HTTP" }));
    set("URL's host", () => request.setAuthority(authority));
    set("URL's path", () => request.setPathWithQuery(pathWithQuery));
    if (init.timeoutMs !== undefined && init.timeoutMs !== null) {
      // To connect, and again to the response's head; the manifest's [http] timeout and the
      // call's deadline bound the whole request whatever this says.
      const ns = nanos(init.timeoutMs);
      options = new types.RequestOptions();
      set("timeout", () => options.setConnectTimeout(ns));
      set("timeout", () => options.setFirstByteTimeout(ns));
    }
    try {
      body = request.body();
    } catch (e) {
      payloadOf(e);
      throw new HttpError("other", "the request body is unavailable");
    }
  } catch (e) {
    dispose(options);
    dispose(request);
    throw e;
  }

  // The request goes out first and its body streams after: the host reads the body only
  // once it is connected, so writing it first could wait forever.
  let pending;
  try {
    pending = outgoingHandler.handle(request, options);
  } catch (e) {
    dispose(body);
    throw fromCode(payloadOf(e));
  }
  try {
    writeBody(types, body, data);
    const response = wait(pending);
    try {
      return readResponse(types, response);
    } finally {
      dispose(response);
    }
  } finally {
    dispose(pending);
  }
}

function toResponse({ status, headers, body }) {
  return {
    status,
    headers,
    body,
    isSuccess: status >= 200 && status < 300,
    header(name) {
      const h = headers.find(([k]) => k === String(name).toLowerCase());
      return h ? h[1] : undefined;
    },
    text() {
      return decodeUtf8(body);
    },
    json() {
      try {
        return JSON.parse(decodeUtf8(body));
      } catch {
        // Never the parser's words: some quote the body (it may be another user's data).
        throw new HttpError("other", "the response body is not the expected JSON");
      }
    },
  };
}

/**
 * `method url` (`init`: `{ method, headers, body, timeoutMs }`), read to the end. It blocks
 * the handler until done and returns a settled Promise, so `await` works as with `fetch`.
 */
async function request(url, init = {}) {
  return toResponse(send(url, init ?? {}));
}

function jsonBody(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new HttpError("other", `the body is not serializable: ${e && e.message ? e.message : e}`);
  }
  if (text === undefined) throw new HttpError("other", "the body is not serializable");
  return text;
}

/** Outbound HTTP (`grants = ["http"]`, origins under `[http] allowed_hosts`). Await it. */
export const http = Object.freeze({
  request,
  get: (url, init = {}) => request(url, { ...init, method: "GET" }),
  postJson: async (url, value, init = {}) => {
    const headers = headerPairs(init.headers);
    if (!headers.some(([n]) => n === "content-type")) headers.push(["content-type", encodeUtf8("application/json")]);
    return request(url, { ...init, method: "POST", headers, body: jsonBody(value) });
  },
});

// Outbound HTTP over the engine's `fetch` (StarlingMonkey's, over wasi:http/outgoing-handler;
// the build enables it only for a plugin granted "http"). Failures become HttpError, which
// maps to the Rust SDK's codes; messages name the kind of failure, never the URL.

import { HttpError } from "./errors.js";
import { httpEnabled } from "./host.js";
import { decodeUtf8 } from "./utf8.js";

// StarlingMonkey's fetch (componentize-js 0.23.0) rejects with this one text whatever the
// host's wasi:http error-code was: a denied origin (HttpRequestDenied), a refused connection
// and a timeout look the same. Unavailable (1008, temporary) is the only honest kind for it:
// calling a real outage permanent (1003) would stop clients retrying.
const OPAQUE_FETCH_ERROR = "NetworkError when attempting to fetch resource";

/** The kind of failure a fetch rejection is, from the wasi:http error code it names. */
export function classify(e) {
  const text = String(e && e.message ? e.message : e);
  if (text === OPAQUE_FETCH_ERROR) {
    return new HttpError("unavailable", "the request failed and the engine's fetch does not say why (a denied origin looks the same)");
  }
  const lower = text.toLowerCase();
  let kind = "other";
  if (/denied|prohibited/.test(lower)) kind = "denied";
  else if (/timeout|limit-reached|limitreached/.test(lower)) kind = "timeout";
  else if (/size|too large/.test(lower)) kind = "too-large";
  else if (/dns|refused|terminated|unreachable|unroutable|not-found|notfound|unavailable|tls|incomplete|network/.test(lower)) kind = "unavailable";
  return new HttpError(kind, text.replace(/https?:\/\/\S+/g, "<url>"));
}

async function request(url, init) {
  // Without the http feature StarlingMonkey still defines fetch, but calling it traps.
  if (!httpEnabled() || typeof globalThis.fetch !== "function") {
    throw new HttpError("denied", 'this plugin was built without HTTP: add "http" to the grants in its manifest and rebuild');
  }
  let res;
  try {
    res = await globalThis.fetch(url, { redirect: "manual", ...init });
  } catch (e) {
    throw classify(e);
  }
  let body;
  try {
    body = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw classify(e);
  }
  const headers = [];
  res.headers.forEach((v, k) => headers.push([k.toLowerCase(), v]));
  return {
    status: res.status,
    headers,
    body,
    isSuccess: res.status >= 200 && res.status < 300,
    header(name) {
      const h = headers.find(([k]) => k === name.toLowerCase());
      return h ? h[1] : undefined;
    },
    text() {
      return decodeUtf8(body);
    },
    json() {
      try {
        return JSON.parse(decodeUtf8(body));
      } catch (e) {
        // Where decoding stopped, never the body (it may be another user's data).
        throw new HttpError("other", "response is not the expected JSON");
      }
    },
  };
}

/** Outbound HTTP (`grants = ["http"]`, origins under `[http] allowed_hosts`). Async: await it. */
export const http = Object.freeze({
  request,
  get: (url, init = {}) => request(url, { ...init, method: "GET" }),
  postJson: (url, value, init = {}) =>
    request(url, {
      ...init,
      method: "POST",
      headers: { "content-type": "application/json", ...(init.headers ?? {}) },
      body: JSON.stringify(value),
    }),
});

// The error a handler returns to the client, the SDK's codes, and the host-function errors
// with the Rust SDK's mapping to client errors (plugin-sdk/src/lib.rs, "Errors").

/** Codes the SDK itself uses (the seed's table). Plugins use 400-1999 for their own. */
export const codes = Object.freeze({
  INVALID_REQUEST: 100,
  METHOD_REQUIRED: 101,
  METHOD_NOT_FOUND: 102,
  INVALID_PARAMS: 103,
  INTERNAL: 500,
  UNAUTHORIZED: 1001,
  UNKNOWN_CHANNEL: 1002,
  PERMISSION_DENIED: 1003,
  NOT_FOUND: 1004,
  BAD_REQUEST: 1007,
  UNAVAILABLE: 1008,
  LIMIT_REACHED: 1009,
});

/** An error returned to the client: Centrifugo's `{"error": {code, message, temporary}}`. */
export class RpcError extends Error {
  /**
   * @param {number} code plugins use 400-1999 for their own codes
   * @param {string} message shown to the client: never put secrets or raw input in it
   * @param {boolean} [temporary] whether retrying the same call may succeed
   */
  constructor(code, message, temporary = false) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.temporary = temporary;
  }
  static invalidParams(message) {
    return new RpcError(codes.INVALID_PARAMS, message);
  }
  static internal(message) {
    return new RpcError(codes.INTERNAL, message);
  }
  static methodNotFound(method) {
    return new RpcError(codes.METHOD_NOT_FOUND, `Method '${method}' not found`);
  }
  toRpcError() {
    return this;
  }
  toString() {
    return `rpc error ${this.code}: ${this.message}`;
  }
}

/** The base of the host-function errors: each knows its client error (`toRpcError`). */
export class HostError extends Error {
  /** @param {string} kind the WIT variant case, e.g. `denied` @param {string} [detail] */
  constructor(kind, detail, text) {
    super(text);
    this.kind = kind;
    this.detail = detail;
  }
}

/** Why a server-API call failed (the WIT `publish-error`). */
export class PublishError extends HostError {
  constructor(kind, detail) {
    const text = {
      "unknown-channel": () => "unknown channel",
      denied: () => `permission denied: ${detail}`,
      unauthorized: () => "unauthorized",
      unavailable: () => `unavailable: ${detail}`,
      timeout: () => "timeout",
      "bad-request": () => `bad request: ${detail}`,
    }[kind];
    super(kind, detail, text ? text() : `publish failed: ${kind}`);
    this.name = "PublishError";
  }
  toRpcError() {
    switch (this.kind) {
      case "unauthorized": return new RpcError(codes.UNAUTHORIZED, this.message);
      case "unknown-channel": return new RpcError(codes.UNKNOWN_CHANNEL, this.message);
      case "denied": return new RpcError(codes.PERMISSION_DENIED, this.message);
      case "bad-request": return new RpcError(codes.BAD_REQUEST, this.message);
      default: return new RpcError(codes.UNAVAILABLE, this.message, true);
    }
  }
}

/** Why a terminal call failed (the WIT `terminal-error`). */
export class TerminalError extends HostError {
  constructor(kind, detail) {
    const text = {
      "not-found": () => "terminal session not found",
      denied: () => `permission denied: ${detail}`,
      unavailable: () => `terminal agent unavailable: ${detail}`,
      timeout: () => "terminal agent timeout",
      "limit-reached": () => "terminal limit reached",
      invalid: () => `invalid terminal request: ${detail}`,
    }[kind];
    super(kind, detail, text ? text() : `terminal failed: ${kind}`);
    this.name = "TerminalError";
  }
  toRpcError() {
    switch (this.kind) {
      case "not-found": return new RpcError(codes.NOT_FOUND, this.message);
      case "denied": return new RpcError(codes.PERMISSION_DENIED, this.message);
      case "limit-reached": return new RpcError(codes.LIMIT_REACHED, this.message, true);
      case "invalid": return new RpcError(codes.BAD_REQUEST, this.message);
      default: return new RpcError(codes.UNAVAILABLE, this.message, true);
    }
  }
}

/**
 * Why a key-value operation failed. Kinds: `no-such-store`, `access-denied`, `limit`,
 * `unavailable`, `invalid`, `json`, `other` (the host's `other("limit: ...")` texts are split
 * by their prefix, as the Rust SDK does).
 */
export class KvError extends HostError {
  constructor(kind, detail) {
    const text = {
      "no-such-store": () => "no such key-value store",
      "access-denied": () => "permission denied: the bucket is not granted to this plugin",
      limit: () => `key-value limit reached: ${detail}`,
      unavailable: () => `key-value store unavailable: ${detail}`,
      invalid: () => `invalid key-value request: ${detail}`,
      json: () => `key-value value is not the expected JSON: ${detail}`,
    }[kind];
    super(kind, detail, text ? text() : `key-value store failed: ${detail}`);
    this.name = "KvError";
  }
  /** From the WIT `wasi:keyvalue/store.error` (`{tag, val}`). */
  static fromWit(e) {
    if (e.tag === "no-such-store" || e.tag === "access-denied") return new KvError(e.tag);
    const text = String(e.val ?? "");
    const i = text.indexOf(": ");
    const prefix = i >= 0 ? text.slice(0, i) : "";
    if (prefix === "limit" || prefix === "unavailable" || prefix === "invalid") {
      return new KvError(prefix, text.slice(i + 2));
    }
    return new KvError("other", text);
  }
  toRpcError() {
    switch (this.kind) {
      case "no-such-store": return new RpcError(codes.NOT_FOUND, this.message);
      case "access-denied": return new RpcError(codes.PERMISSION_DENIED, this.message);
      case "limit": return new RpcError(codes.LIMIT_REACHED, this.message);
      case "invalid": return new RpcError(codes.BAD_REQUEST, this.message);
      case "json": return new RpcError(codes.INTERNAL, this.message);
      default: return new RpcError(codes.UNAVAILABLE, this.message, true);
    }
  }
}

/** Why an outbound HTTP request failed: `denied`, `timeout`, `unavailable`, `too-large`, `other`. */
export class HttpError extends HostError {
  constructor(kind, detail) {
    const what = { denied: "denied", timeout: "timed out", unavailable: "unavailable", "too-large": "too large" }[kind] ?? "failed";
    super(kind, detail, `outbound HTTP ${what}: ${detail}`);
    this.name = "HttpError";
  }
  toRpcError() {
    switch (this.kind) {
      case "denied": return new RpcError(codes.PERMISSION_DENIED, this.message);
      case "timeout":
      case "unavailable": return new RpcError(codes.UNAVAILABLE, this.message, true);
      case "too-large": return new RpcError(codes.LIMIT_REACHED, this.message);
      default: return new RpcError(codes.BAD_REQUEST, this.message);
    }
  }
}

/** The client error for anything a handler throws that knows one (`RpcError`, host errors). */
export function toRpcError(e) {
  if (e instanceof RpcError) return e;
  if (e && typeof e.toRpcError === "function") return e.toRpcError();
  return undefined;
}

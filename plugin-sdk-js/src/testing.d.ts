import type { Conn } from "./index.js";

type WitConn = Omit<Conn, "meta" | "isAnonymous"> & { meta?: string };

export declare function user(id: string | number, extra?: Partial<WitConn>): WitConn;
export declare function anonymous(): WitConn;

/**
 * Thrown by `TestHost.call`/`subscribe` when the handler threw something other than an
 * RpcError or a host error: in the component that call traps (500 with a request id, a fault).
 */
export declare class PluginTrap extends Error {
  /** What the guest wrote to stderr before the trap: the error and its stack. */
  stderr: string;
}

/** A fake host for `node --test`: records what handlers did, injects failures. */
export declare class TestHost {
  constructor();
  published: { channel: string; data: unknown }[];
  logs: { level: string; message: string }[];
  /** What handlers wrote to stderr (the text of each trap), in order. */
  stderr: string[];
  buckets: Map<string, Map<string, Uint8Array>>;
  allowedBuckets: string[] | undefined;
  history: Map<string, unknown[]>;
  presence: Map<string, { client: string; user: string }[]>;
  sessions: Map<string, { options: Record<string, unknown>; input: Uint8Array[] }>;
  install(): this;
  config(key: string, value: string): this;
  failPublish(tag: string, detail?: string): this;
  failTerminal(tag: string, detail?: string): this;
  failKv(tag: string, detail?: string): this;
  /** Fails every HTTP request with a wasi:http error-code (`connection-refused`, `HTTP-request-denied`, ...). */
  failHttp(tag: string, val?: unknown): this;
  /** Removes the injected failures (not the registered HTTP routes). */
  heal(): this;
  /**
   * Answers `method url`. An origin with nothing registered is denied (1003), like one outside
   * `allowed_hosts`; a registered origin answers 404 for other paths.
   */
  httpResponse(
    method: string,
    url: string,
    response?: { status?: number; headers?: Record<string, string> | [string, string][]; body?: string | Uint8Array },
  ): this;
  httpJson(method: string, url: string, status: number, value: unknown): this;
  /** Fails `method url` with a wasi:http error-code. */
  httpFailure(method: string, url: string, tag: string, val?: unknown): this;
  /** Every request sent, in order. */
  httpRequests: {
    method: string;
    url: string;
    headers: [string, string][];
    body: Uint8Array;
    connectTimeoutMs?: number;
    firstByteTimeoutMs?: number;
  }[];
  /** The manifest's `[http] max_response_body` (default 4 MiB): a longer body fails 1009. */
  httpMaxResponseBody: number;
  /** The decoded result (a Promise for an async handler); throws RpcError (an error reply) or PluginTrap (a trap). */
  call(method: string, conn: WitConn, params?: unknown): any;
  subscribe(channel: string, conn: WitConn, data?: unknown): any;
}

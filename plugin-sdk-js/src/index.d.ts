// Types of @plughost/sdk (the source is plain ES modules).
import type { z } from "zod";
export { z } from "zod";

/** Who is calling: the Centrifugo connection the RPC came from. */
export interface Conn {
  client: string;
  /** User id from the connection token; empty for an anonymous connection. */
  user: string;
  transport: string;
  protocol: string;
  encoding: string;
  /** Connection meta set at connect time; undefined when absent or not valid JSON. */
  meta: unknown;
  isAnonymous: boolean;
}

export declare const codes: Readonly<{
  INVALID_REQUEST: 100; METHOD_REQUIRED: 101; METHOD_NOT_FOUND: 102; INVALID_PARAMS: 103; INTERNAL: 500;
  UNAUTHORIZED: 1001; UNKNOWN_CHANNEL: 1002; PERMISSION_DENIED: 1003; NOT_FOUND: 1004;
  BAD_REQUEST: 1007; UNAVAILABLE: 1008; LIMIT_REACHED: 1009;
}>;

/** An error returned to the client. Plugins use codes 400-1999. */
export declare class RpcError extends Error {
  constructor(code: number, message: string, temporary?: boolean);
  code: number;
  temporary: boolean;
  static invalidParams(message: string): RpcError;
  static internal(message: string): RpcError;
  static methodNotFound(method: string): RpcError;
  toRpcError(): RpcError;
}

export declare class HostError<K extends string = string> extends Error {
  kind: K;
  detail?: string;
  toRpcError(): RpcError;
}
export declare class PublishError extends HostError<"unknown-channel" | "denied" | "unauthorized" | "unavailable" | "timeout" | "bad-request"> {
  constructor(kind: PublishError["kind"], detail?: string);
}
export declare class TerminalError extends HostError<"not-found" | "denied" | "unavailable" | "timeout" | "limit-reached" | "invalid"> {
  constructor(kind: TerminalError["kind"], detail?: string);
}
export declare class KvError extends HostError<"no-such-store" | "access-denied" | "limit" | "unavailable" | "invalid" | "json" | "other"> {
  constructor(kind: KvError["kind"], detail?: string);
  static fromWit(e: { tag: string; val?: string }): KvError;
}
export declare class HttpError extends HostError<"denied" | "timeout" | "unavailable" | "too-large" | "other"> {
  constructor(kind: HttpError["kind"], detail?: string);
}
export declare function toRpcError(e: unknown): RpcError | undefined;

type Awaitable<T> = T | Promise<T>;
type Schema = z.ZodType;

export interface MethodSpec<P extends Schema | undefined, R extends Schema | undefined> {
  /** The params' schema; without one, any object. */
  params?: P;
  /** The result's schema (published by describe; not checked at run time). */
  result?: R;
  /** What the method does (shown by `plughost check`, OpenRPC and codegen). */
  doc?: string;
}

/** Registers `handler` as method `name`; params are checked against the zod schema first. */
export declare function rpc<P extends Schema>(name: string, params: P, handler: (conn: Conn, params: z.output<P>) => Awaitable<unknown>): void;
export declare function rpc<P extends Schema | undefined = undefined, R extends Schema | undefined = undefined>(
  name: string,
  spec: MethodSpec<P, R>,
  handler: (conn: Conn, params: P extends Schema ? z.output<P> : Record<string, unknown>) => Awaitable<R extends Schema ? z.input<R> : unknown>,
): void;
export declare function rpc(name: string, handler: (conn: Conn, params: Record<string, unknown>) => Awaitable<unknown>): void;

/** What a subscribe handler returns to allow (undefined: allow with nothing attached). */
export interface SubscribeGrant {
  info?: unknown;
  data?: unknown;
  /** Unix seconds when the subscription expires; 0 never. */
  expireAt?: number;
}
/** Registers the authoriser of channels in `namespace` (before the first `#`; `""` without). */
export declare function subscribe(
  namespace: string,
  handler: (conn: Conn, channel: string, data: Uint8Array | undefined) => Awaitable<SubscribeGrant | undefined | void>,
): void;
export declare function namespaceOf(channel: string): string;
export declare function reset(): void;

export interface StreamPosition { offset: number; epoch: string }
export interface Publication { data: string; offset: number }
export interface PresenceEntry { client: string; user: string }

export declare function publish(channel: string, data: unknown): StreamPosition | undefined;
export declare function publishBinary(channel: string, data: Uint8Array | string): StreamPosition | undefined;
export declare function broadcast(channels: Iterable<string>, data: unknown): void;
export declare function broadcastBinary(channels: Iterable<string>, data: Uint8Array | string): void;
export declare function broadcastEach(channels: Iterable<string>, data: unknown): (PublishError | null)[];
export declare function broadcastBinaryEach(channels: Iterable<string>, data: Uint8Array | string): (PublishError | null)[];
export declare function history(channel: string, limit: number): Publication[];
export declare function presence(channel: string): PresenceEntry[];

export declare const log: Readonly<Record<"trace" | "debug" | "info" | "warn" | "error", (message: string) => void>>;
export declare const config: Readonly<{ get(key: string): string | undefined }>;

export interface CreateOptions {
  command?: string;
  args?: string[];
  cols?: number;
  rows?: number;
  env?: [string, string][] | Record<string, string>;
  owner?: string;
}
export declare const terminal: Readonly<{
  create(options?: CreateOptions): string;
  input(sessionId: string, data: Uint8Array | string): void;
  inputSeq(sessionId: string, seq: number | bigint, data: Uint8Array | string): void;
  resize(sessionId: string, cols: number, rows: number): void;
  close(sessionId: string): void;
  owner(sessionId: string): string;
}>;

export declare class Bucket {
  static open(name: string): Bucket;
  get(key: string): Uint8Array | undefined;
  getJson<T = unknown>(key: string): T | undefined;
  set(key: string, value: Uint8Array | string): void;
  setJson(key: string, value: unknown): void;
  setWithTtl(key: string, value: Uint8Array | string, ttlMs: number): void;
  setJsonWithTtl(key: string, value: unknown, ttlMs: number): void;
  delete(key: string): void;
  exists(key: string): boolean;
  increment(key: string, delta?: number | bigint): number;
  getMany(keys: string[]): (Uint8Array | undefined)[];
  setMany(pairs: [string, Uint8Array | string][]): void;
  deleteMany(keys: string[]): void;
  keys(prefix?: string): string[];
}
export declare const kv: Readonly<{ open(name: string): Bucket }>;

/** A request's options (the `fetch` ones that apply; the host follows no redirects). */
export interface HttpRequestInit {
  /** `GET` unless given. */
  method?: string;
  /** Values as text or bytes; the host refuses hop-by-hop ones such as `host` or `connection`. */
  headers?: Record<string, string | Uint8Array> | Iterable<[string, string | Uint8Array]>;
  body?: string | Uint8Array | ArrayBuffer | ArrayBufferView | null;
  /**
   * Milliseconds to connect and again to the response's head; the manifest's `[http] timeout`
   * and the call's deadline bound the whole request whatever this says.
   */
  timeoutMs?: number;
}
/** A response, read to the end (header names in lower case, in order). */
export interface HttpResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  isSuccess: boolean;
  header(name: string): string | undefined;
  text(): string;
  json<T = unknown>(): T;
}
export declare const http: Readonly<{
  request(url: string, init?: HttpRequestInit): Promise<HttpResponse>;
  get(url: string, init?: HttpRequestInit): Promise<HttpResponse>;
  postJson(url: string, value: unknown, init?: HttpRequestInit): Promise<HttpResponse>;
}>;

/** Wires in the WIT imports (the build's entry does this; tests use TestHost). */
export declare function setHost(bindings: Record<string, unknown>): void;
/** The WIT handler export (the build's entry re-exports it). */
export declare const handler: {
  describe(): unknown;
  call(ctx: unknown, method: string, params: Uint8Array): Uint8Array | Promise<Uint8Array>;
  subscribe(ctx: unknown, channel: string, data: Uint8Array | undefined): unknown;
};
export declare function describe(): {
  methods: { name: string; doc: string; paramsSchema: string; resultSchema: string }[];
  subscribeNamespaces: string[];
};

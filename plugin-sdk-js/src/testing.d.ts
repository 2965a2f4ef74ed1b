import type { Conn } from "./index.js";

type WitConn = Omit<Conn, "meta" | "isAnonymous"> & { meta?: string };

export declare function user(id: string | number, extra?: Partial<WitConn>): WitConn;
export declare function anonymous(): WitConn;

/** A fake host for `node --test`: records what handlers did, injects failures. */
export declare class TestHost {
  constructor();
  published: { channel: string; data: unknown }[];
  logs: { level: string; message: string }[];
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
  heal(): this;
  /** The decoded result (a Promise for an async handler), or throws RpcError. */
  call(method: string, conn: WitConn, params?: unknown): any;
  subscribe(channel: string, conn: WitConn, data?: unknown): any;
}

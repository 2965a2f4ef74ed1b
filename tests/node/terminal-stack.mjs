// Helpers for the terminal tests and benchmarks: a stack with the terminal agent and the
// terminal plugin, and a reader of a session's output channel.

import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';

import { pluginPath, startStack, withTimeout } from './harness.mjs';

/**
 * The terminal plugin's manifest as shipped (the `.toml` beside the `.wasm` in use, so an
 * older checkout's plugins, PLUGHOST_PLUGIN_DIRS, get their own).
 */
export function shippedManifest() {
  return readFileSync(pluginPath('terminal').replace(/\.wasm$/, '.toml'), 'utf8');
}

/**
 * A terminal plugin manifest with a `[terminal]` section of `settings` (TOML values from JS:
 * strings, numbers, booleans, arrays of strings), the other keys at their defaults.
 */
export function terminalManifest(settings = {}) {
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${JSON.stringify(value)}`);
  return ['grants = ["terminal"]', 'channels = ["terminal#session#*"]', '[terminal]', ...lines, ''].join('\n');
}

/**
 * A stack with the terminal agent, the terminal plugin and, with `web`, the page and demo
 * tokens. `manifest` replaces the shipped manifest (see terminalManifest); other options go
 * to startStack (`agentArgs`, `terminalListen`...).
 */
export function startTerminalStack({ web = false, manifest = shippedManifest(), ...options } = {}) {
  const top = [];
  if (web) {
    top.push(`web_dir = ${JSON.stringify(web)}`, 'demo_tokens = true');
  }
  return startStack({ terminal: manifest }, { terminalAgent: true, hostTomlTop: top.join('\n'), ...options });
}

export const b64 = (text) => Buffer.from(text).toString('base64');

/**
 * Follows `terminal#session#<id>` publications: decodes output into `text`, keeps
 * statuses and raw publications, and lets a test wait for what it expects.
 */
export class SessionReader {
  /** `slowMs`: block the event loop this long for every publication (a slow subscriber). */
  constructor(sub, { slowMs = 0 } = {}) {
    this.text = '';
    this.bytes = 0;
    this.statuses = [];
    this.publications = [];
    /** Output publications as {offset, data: Buffer}, in arrival order. */
    this.outputs = [];
    /** `{"type":"gap"}` messages. */
    this.gaps = [];
    this.slowMs = slowMs;
    this.waiters = new Set();
    sub.on('publication', (ctx) => this.add(ctx));
  }

  add(ctx) {
    if (this.slowMs) {
      const until = performance.now() + this.slowMs;
      while (performance.now() < until) {
        // busy: the socket is not read meanwhile
      }
    }
    this.publications.push(ctx);
    const msg = ctx.data;
    if (msg.type === 'output') {
      const chunk = Buffer.from(msg.data, 'base64');
      this.bytes += chunk.length;
      this.text += chunk.toString('latin1');
      this.outputs.push({ offset: msg.offset, data: chunk });
    } else if (msg.type === 'status') {
      this.statuses.push(msg);
    } else if (msg.type === 'gap') {
      this.gaps.push(msg);
    }
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves once `check(this)` is truthy; rejects with what was seen after `ms`. */
  until(check, ms = 10_000, what = 'terminal output') {
    if (check(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check(this)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = JSON.stringify(this.text.slice(-300));
        reject(new Error(`${what}: not seen within ${ms} ms (output so far ends ${seen}; statuses ${JSON.stringify(this.statuses)})`));
      }, ms);
      this.waiters.add(waiter);
    });
  }

  /** The output as lines, without terminal escape sequences. */
  lines() {
    return this.text.replace(/\x1b\[[?0-9;]*[A-Za-z]/g, '').split(/\r\n|\n|\r/);
  }

  /** Waits for `pattern` (a RegExp or string) in the output. */
  waitFor(pattern, ms) {
    const test = typeof pattern === 'string' ? (r) => r.text.includes(pattern) : (r) => pattern.test(r.text);
    return this.until(test, ms, `waiting for ${pattern}`);
  }

  /** Waits for a status event whose `status` is `name`. */
  waitStatus(name, ms) {
    return this.until((r) => r.statuses.some((s) => s.status === name), ms, `waiting for status ${name}`);
  }
}

/**
 * Puts output chunks ({offset, data}) together by their `offset`: `bytes` is the output from
 * `start` (the lowest offset seen) to the first hole, `holes` lists the missing ranges
 * [from, to) up to the highest byte seen, `conflicts` counts overlaps whose bytes differ, and
 * `duplicates` chunks that brought nothing new. Chunks without an offset make `unnumbered` > 0.
 */
export function assembleByOffset(chunks) {
  const numbered = chunks.filter((c) => Number.isInteger(c.offset));
  const sorted = [...numbered].sort((a, b) => a.offset - b.offset || b.data.length - a.data.length);
  const result = { start: sorted[0]?.offset ?? 0, end: 0, holes: [], conflicts: 0, duplicates: 0, unnumbered: chunks.length - numbered.length };
  const parts = [];
  let at = result.start;
  let contiguous = true;
  let tail = Buffer.alloc(0); // the last bytes written, to compare overlaps with
  let tailStart = at;
  for (const { offset, data } of sorted) {
    const end = offset + data.length;
    if (end <= at) {
      // Entirely known: compare what we can.
      if (offset >= tailStart && !data.equals(tail.subarray(offset - tailStart, end - tailStart))) result.conflicts++;
      result.duplicates++;
      continue;
    }
    if (offset > at) {
      result.holes.push([at, offset]);
      contiguous = false;
    } else if (offset < at && offset >= tailStart) {
      const overlap = data.subarray(0, at - offset);
      if (!overlap.equals(tail.subarray(offset - tailStart, at - tailStart))) result.conflicts++;
    }
    const fresh = data.subarray(Math.max(0, at - offset));
    if (contiguous) parts.push(fresh);
    tail = data;
    tailStart = offset;
    at = end;
  }
  result.end = at;
  result.bytes = Buffer.concat(parts);
  return result;
}

/** The lines of terminal output (a Buffer or latin1 string), without escape sequences. */
export function outputLines(output) {
  const text = typeof output === 'string' ? output : output.toString('latin1');
  return text.replace(/\x1b\[[?0-9;]*[A-Za-z]/g, '').split(/\r\n|\n|\r/);
}

/** `seq 1 N` as a PTY prints it (each line ends in CR LF). */
export function seqOutput(n) {
  const lines = [];
  for (let i = 1; i <= n; i++) lines.push(`${i}\r\n`);
  return Buffer.from(lines.join(''), 'latin1');
}

/**
 * Checks that `output` (Buffer) holds `seq 1 N`'s output exactly once, in order, as one run of
 * bytes; returns a description of the first problem, or null.
 */
export function checkSeqOutput(output, n) {
  const expected = seqOutput(n);
  // The sequence starts a line (after the echoed command's CR LF, or a mode switch's CR).
  const match = /[\r\n]1\r\n2\r\n/.exec(output.toString('latin1'));
  if (!match) return 'the start of the sequence (1, 2) is not in the output';
  const start = match.index + 1;
  const run = output.subarray(start, start + expected.length);
  if (run.equals(expected)) return null;
  // Say where it first differs, and what the numbered lines look like.
  let i = 0;
  while (i < run.length && run[i] === expected[i]) i++;
  const numbers = outputLines(output).filter((l) => /^\d+$/.test(l)).map(Number);
  let inOrder = 0;
  while (inOrder < numbers.length && numbers[inOrder] === inOrder + 1) inOrder++;
  return `the sequence differs at byte ${i} of ${expected.length} (got ${JSON.stringify(run.subarray(i, i + 40).toString('latin1'))}, expected ${JSON.stringify(expected.subarray(i, i + 40).toString('latin1'))}); ${numbers.length} numbered lines, the first ${inOrder} in order`;
}

/**
 * One unary gRPC call to the terminal agent of `stack` with nothing but node:http2 (no gRPC
 * library): `body` is the protobuf message (empty = all defaults), `token` goes in
 * `authorization: Bearer <token>` unless undefined, `authorization` replaces the whole header.
 * Resolves {status, message, data} (status: the grpc-status number).
 */
export function agentCall(stack, method, { body = Buffer.alloc(0), token, authorization } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const session = stack.agentSocket
        ? http2.connect('http://localhost', { createConnection: () => net.connect(stack.agentSocket) })
        : http2.connect(`http://127.0.0.1:${stack.terminalPort}`);
      session.on('error', reject);
      const headers = {
        ':method': 'POST',
        ':path': `/plughost.terminal.v1.TerminalAgent/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      if (authorization !== undefined) headers.authorization = authorization;
      else if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const req = session.request(headers);
      let head = {};
      let trailers = {};
      const chunks = [];
      req.on('response', (h) => (head = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (c) => chunks.push(c));
      req.on('error', reject);
      req.on('end', () => {
        session.close();
        const status = trailers['grpc-status'] ?? head['grpc-status'];
        const message = trailers['grpc-message'] ?? head['grpc-message'] ?? '';
        resolve({ status: status === undefined ? undefined : Number(status), message: decodeURIComponent(message), data: Buffer.concat(chunks), http: head[':status'] });
      });
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      req.end(frame);
    }),
    10_000,
    `gRPC ${method} to the agent`,
  );
}

/** Protobuf encoding of a message whose fields are all strings: {fieldNumber: value}. */
export function protoStrings(fields) {
  const parts = [];
  for (const [number, value] of Object.entries(fields)) {
    const bytes = Buffer.from(value);
    if (bytes.length > 127) throw new Error('protoStrings: short strings only');
    parts.push(Buffer.from([(Number(number) << 3) | 2, bytes.length]), bytes);
  }
  return Buffer.concat(parts);
}

/** Shuffles `items` in place (Fisher-Yates) and returns it. */
export function shuffle(items) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Subscribes `client` to a session's channel; resolves {sub, reader, subscribed ctx}. */
export async function followSession(client, sessionId, readerOptions) {
  const sub = client.newSubscription(`terminal#session#${sessionId}`);
  const reader = new SessionReader(sub, readerOptions);
  const outcome = new Promise((resolve, reject) => {
    sub.on('subscribed', resolve);
    sub.on('unsubscribed', (ctx) => reject(Object.assign(new Error(`subscription refused: ${ctx.code} ${ctx.reason}`), ctx)));
    sub.on('error', (ctx) => {
      // A permanent refusal also ends in `unsubscribed`; keep the first error for the message.
      reader.lastError = ctx.error;
    });
  });
  sub.subscribe();
  try {
    const subscribed = await withTimeout(outcome, 10_000, 'subscribing to the session');
    return { sub, reader, subscribed };
  } catch (error) {
    client.removeSubscription(sub);
    throw error;
  }
}

/** Awaits a promise that must reject with a Centrifugo error; returns it. */
export async function rpcError(promise) {
  try {
    const value = await promise;
    throw new Error(`expected an RPC error, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error?.code === undefined) throw error;
    return error;
  }
}

// Helpers for the terminal tests and benchmarks: a stack with the terminal agent and the
// terminal plugin, and a reader of a session's output channel.

import { startStack, withTimeout } from './harness.mjs';

/** The manifest of the terminal plugin, as in plugins/terminal.toml. */
export const TERMINAL_MANIFEST = 'grants = ["terminal", "config"]\nchannels = ["terminal#session#*"]\n[config]\ncommands = ""\n';

/** A stack with the terminal agent, the terminal plugin and, with `web`, the page and demo tokens. */
export function startTerminalStack({ web = false, ...options } = {}) {
  const top = [];
  if (web) {
    top.push(`web_dir = ${JSON.stringify(web)}`, 'demo_tokens = true');
  }
  return startStack({ terminal: TERMINAL_MANIFEST }, { terminalAgent: true, hostTomlTop: top.join('\n'), ...options });
}

export const b64 = (text) => Buffer.from(text).toString('base64');

/**
 * Follows `terminal#session#<id>` publications: decodes output into `text`, keeps
 * statuses and raw publications, and lets a test wait for what it expects.
 */
export class SessionReader {
  constructor(sub) {
    this.text = '';
    this.bytes = 0;
    this.statuses = [];
    this.publications = [];
    this.waiters = new Set();
    sub.on('publication', (ctx) => this.add(ctx));
  }

  add(ctx) {
    this.publications.push(ctx);
    const msg = ctx.data;
    if (msg.type === 'output') {
      const chunk = Buffer.from(msg.data, 'base64');
      this.bytes += chunk.length;
      this.text += chunk.toString('latin1');
    } else if (msg.type === 'status') {
      this.statuses.push(msg);
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

/** Subscribes `client` to a session's channel; resolves {sub, reader, subscribed ctx}. */
export async function followSession(client, sessionId) {
  const sub = client.newSubscription(`terminal#session#${sessionId}`);
  const reader = new SessionReader(sub);
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

// The seed's browser terminal: xterm.js drawn from a session's channel, keystrokes sent
// as RPCs. Browser -> Centrifugo (terminal.* RPC) -> plughost -> terminal plugin ->
// terminal agent (a PTY); output comes back as publications on terminal#session#<id>.
//
// The RPCs go through the typed client generated from the plugins (src/gen/api.ts, written
// by `plughost codegen --lang ts` in `make web`; git-ignored, never edited by hand).
//
// Input: every keystroke goes out at once as its own RPC carrying `seq` (1, 2, 3... per
// session); Centrifugo runs a connection's RPCs concurrently, and the host applies them in
// seq order. Output: each publication carries `offset`, the byte offset of its data in the
// session's output; the page writes every byte once and in offset order (a publication
// behind what was written is a duplicate; one ahead waits briefly for the ones before it),
// and shows a notice whenever output was lost, never silently.

import { Centrifuge, type PublicationContext } from 'centrifuge';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import './style.css';

import { API_VERSION, ApiClient, RpcError, type CheckVersionResult, type TerminalInputParams } from './gen/api';

/** What the page exposes for tests and benchmarks (see tests/node/terminal-browser.test.mjs). */
interface Hooks {
  term: Terminal;
  user: string;
  sessionId: string | null;
  /** Called with every chunk written to xterm, in order (a test may set it before the page loads). */
  onOutput: ((bytes: Uint8Array) => void) | null;
  /** Output publications written. */
  outputs: number;
  /** Bytes written to xterm so far. */
  bytesWritten: number;
  /** FNV-1a 32 of those bytes, as an unsigned integer. */
  checksum: number;
  /** The session output offset the next byte written will have (null: the host sends no offsets). */
  nextOffset: number | null;
  /** Output publications skipped because their bytes were already written. */
  duplicates: number;
  /** Loss notices shown (gap messages, offset jumps, an unrecovered resubscribe). */
  gaps: number;
  /** Bytes known lost (from gap messages and offset jumps). */
  lostBytes: number;
  /** terminal.input RPCs sent, and how many of them failed. */
  inputsSent: number;
  inputFailures: number;
  /** terminal.input RPCs not answered yet. */
  inputsInFlight: number;
  centrifuge?: Centrifuge;
  api?: ApiClient;
  subscribed?: { recoverable: boolean; wasRecovering: boolean; recovered: boolean };
  /** The answer of `system.check_version` (or `{ error }` if it could not be asked). */
  version?: CheckVersionResult | { error: string };
}

declare global {
  interface Window {
    plughostTerminal: Hooks;
  }
}

/** The page's config, served by the host at /terminal/config.json. */
interface PageConfig {
  websocket_url: string;
  output_channel_prefix: string;
}

/** A publication on terminal#session#<id>. */
type SessionMessage =
  | { type: 'output'; data: string; offset?: number }
  | { type: 'status'; status: string; exit_code?: number }
  | { type: 'gap'; offset?: number; lost_bytes: number };

function $(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/** An error's text: RpcError and Error carry a message, centrifuge-js errors are objects. */
function describe(error: unknown): string {
  if (error instanceof RpcError) return `${error.message || 'error'} (code ${error.code})`;
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  return JSON.stringify(error);
}

const encoder = new TextEncoder();

/** Who we are: ?user=ID, else one random guest per tab. Demo tokens are minted by the host. */
const user = (() => {
  const fromUrl = new URLSearchParams(location.search).get('user');
  const id = fromUrl || sessionStorage.getItem('plughost-user') || `guest-${Math.random().toString(36).slice(2, 8)}`;
  sessionStorage.setItem('plughost-user', id);
  return id;
})();

const term = new Terminal({
  cursorBlink: true,
  convertEol: false,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
  fontSize: 14,
  scrollback: 5000,
  theme: { background: '#111417' },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('terminal'));
fit.fit();

const hooks: Hooks = {
  term,
  user,
  sessionId: null,
  // A test may install its recorder before the page runs (page.addInitScript).
  onOutput: (window.plughostTerminal as Partial<Hooks> | undefined)?.onOutput ?? null,
  outputs: 0,
  bytesWritten: 0,
  checksum: 0x811c9dc5,
  nextOffset: null,
  duplicates: 0,
  gaps: 0,
  lostBytes: 0,
  inputsSent: 0,
  inputFailures: 0,
  inputsInFlight: 0,
};
window.plughostTerminal = hooks;

function setState(state: string, text?: string): void {
  document.body.dataset.state = state;
  if (text !== undefined) $('conn').textContent = text;
}

function notice(text: string): void {
  term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
}

/** A loss of output: in the terminal, where it happened, and in the header, where it stays. */
function lossNotice(text: string, lostBytes: number): void {
  hooks.gaps++;
  hooks.lostBytes += lostBytes;
  term.write(`\r\n\x1b[1;33m[${text}]\x1b[0m\r\n`);
  const loss = $('loss');
  loss.textContent = hooks.lostBytes
    ? `${hooks.lostBytes} bytes of output lost`
    : `output lost (${hooks.gaps}x)`;
  loss.title = text;
  loss.hidden = false;
}

/** Shows (never blocks on) a warning that this page was built for another API version. */
function warnVersion(text: string, title: string): void {
  const warning = $('version');
  warning.textContent = text;
  warning.title = title;
  warning.hidden = false;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function getToken(): Promise<string> {
  const res = await fetch(`/terminal/token?user=${encodeURIComponent(user)}`, { cache: 'no-store' });
  if (!res.ok) {
    const why = res.status === 404 ? 'this host hands out no demo tokens (demo_tokens = false)' : await res.text();
    setState('error', `no token: ${why}`);
    throw new Error(why);
  }
  return ((await res.json()) as { token: string }).token;
}

const config = (await (await fetch('/terminal/config.json', { cache: 'no-store' })).json()) as PageConfig;
const centrifuge = new Centrifuge(config.websocket_url, { getToken, timeout: 10000 });
const api = new ApiClient(centrifuge);
hooks.centrifuge = centrifuge;
hooks.api = api;
centrifuge.on('connecting', (ctx) => setState(document.body.dataset.state === 'ready' ? 'reconnecting' : 'connecting', `connecting (${ctx.reason})`));
centrifuge.on('connected', () => ($('conn').textContent = 'connected'));
centrifuge.on('disconnected', (ctx) => setState('disconnected', `disconnected: ${ctx.reason}`));

let sessionId: string | null = null;
let ended = false;

// Keystrokes go out at once, each RPC with the next `seq`; the host applies them in seq order.
// Big pastes are cut into chunks below the host's input cap, and at most MAX_IN_FLIGHT RPCs
// are outstanding (well inside the host's reorder window); whatever is typed meanwhile is
// queued and sent, in order, as soon as one returns.
const MAX_CHUNK = 16 * 1024;
const MAX_IN_FLIGHT = 32;
let nextSeq = 1;
let queued: Uint8Array[] = [];
let queuedBytes = 0;
function send(bytes: Uint8Array): void {
  if (ended || !sessionId || !bytes.length) return;
  queued.push(bytes);
  queuedBytes += bytes.length;
  pump(sessionId);
}
function pump(session_id: string): void {
  while (queuedBytes && hooks.inputsInFlight < MAX_IN_FLIGHT && !ended) {
    const all = new Uint8Array(queuedBytes);
    let at = 0;
    for (const part of queued) {
      all.set(part, at);
      at += part.length;
    }
    const chunk = all.subarray(0, MAX_CHUNK);
    const rest = all.subarray(chunk.length);
    queued = rest.length ? [rest] : [];
    queuedBytes = rest.length;
    void sendOne(session_id, nextSeq++, chunk);
  }
}
async function sendOne(session_id: string, seq: number, bytes: Uint8Array): Promise<void> {
  hooks.inputsSent++;
  hooks.inputsInFlight++;
  try {
    // `seq` is in the generated TerminalInputParams once the plugin declares it.
    await api.terminalInput({ session_id, data: toBase64(bytes), seq } as TerminalInputParams);
  } catch (error) {
    hooks.inputFailures++;
    if (!ended) notice(`input not sent: ${describe(error)}`);
    if (error instanceof RpcError && (error.code === 1004 || error.code === 1003)) end('session is gone');
  } finally {
    hooks.inputsInFlight--;
  }
  pump(session_id);
}
term.onData((data) => send(encoder.encode(data)));
// Mouse reports and the like come as binary strings (one byte per char).
term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));

let resizeTimer: ReturnType<typeof setTimeout> | undefined;
term.onResize(({ cols, rows }) => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (sessionId && !ended) {
      api.terminalResize({ session_id: sessionId, cols, rows }).catch((error: unknown) => notice(`resize failed: ${describe(error)}`));
    }
  }, 100);
});
new ResizeObserver(() => fit.fit()).observe($('terminal'));

function end(why: string): void {
  if (ended) return;
  ended = true;
  notice(why);
  setState('ended', 'session ended');
  $('restart').hidden = false;
}
$('restart').addEventListener('click', () => location.reload());

// Output is written once, in offset order. `offset` is the byte offset of a publication's
// data in the session's output (a session's output starts at 0). A publication behind what
// was written is a duplicate (history read twice, a recovery overlap): skipped, or only its
// new tail written. One ahead of it waits up to REORDER_WAIT_MS for the bytes before it;
// after that the jump is lost output, and the page says so. Statuses wait behind output that
// waits. A host that sends no offsets (an older one) gets each publication written as it
// comes, deduplicated by Centrifugo's stream position.
const REORDER_WAIT_MS = 1500;
let nextOffset = 0;
let offsets = false;
const ahead = new Map<number, Uint8Array>();
const deferred: SessionMessage[] = [];
let reorderTimer: ReturnType<typeof setTimeout> | undefined;
let lastStreamOffset = 0;

function write(bytes: Uint8Array): void {
  if (!bytes.length) return;
  hooks.outputs++;
  hooks.bytesWritten += bytes.length;
  let h = hooks.checksum;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  hooks.checksum = h;
  term.write(bytes);
  hooks.onOutput?.(bytes);
}

/** Writes what continues at nextOffset, then what waited for it; arms the timer for the rest. */
function drain(): void {
  for (;;) {
    let progressed = false;
    for (const [offset, bytes] of ahead) {
      const end = offset + bytes.length;
      if (end <= nextOffset) {
        ahead.delete(offset);
        hooks.duplicates++;
        progressed = true;
      } else if (offset <= nextOffset) {
        ahead.delete(offset);
        write(bytes.subarray(nextOffset - offset));
        nextOffset = end;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  hooks.nextOffset = nextOffset;
  clearTimeout(reorderTimer);
  reorderTimer = undefined;
  if (ahead.size) {
    reorderTimer = setTimeout(giveUpWaiting, REORDER_WAIT_MS);
  } else {
    for (const msg of deferred.splice(0)) handleStatus(msg);
  }
}

/** The bytes before the earliest waiting publication did not come: say so, and go on. */
function giveUpWaiting(): void {
  if (!ahead.size) return;
  const first = Math.min(...ahead.keys());
  const lost = first - nextOffset;
  lossNotice(`${lost} bytes of output lost (offsets ${nextOffset}-${first - 1})`, lost);
  nextOffset = first;
  drain();
}

function handleOutput(msg: { data: string; offset?: number }): void {
  const bytes = fromBase64(msg.data);
  if (typeof msg.offset !== 'number') {
    write(bytes);
    return;
  }
  offsets = true;
  const end = msg.offset + bytes.length;
  if (end <= nextOffset) {
    hooks.duplicates++;
    return;
  }
  const known = ahead.get(msg.offset);
  if (!known || known.length < bytes.length) ahead.set(msg.offset, bytes);
  drain();
}

function handleStatus(msg: SessionMessage): void {
  if (msg.type === 'status' && msg.status !== 'running') {
    end(msg.exit_code === undefined ? `session ${msg.status}` : `process exited with code ${msg.exit_code}`);
  }
}

function handle(pub: PublicationContext): void {
  const msg = pub.data as SessionMessage;
  if (!offsets && pub.offset) {
    // Without byte offsets, Centrifugo's stream position is all there is to deduplicate by
    // (reset when a resubscribe starts a new stream).
    if (pub.offset <= lastStreamOffset) return;
    lastStreamOffset = pub.offset;
  }
  if (msg.type === 'output') {
    handleOutput(msg);
  } else if (msg.type === 'gap') {
    const lost = Number(msg.lost_bytes) || 0;
    lossNotice(`${lost} bytes of output lost by the host`, lost);
    if (typeof msg.offset === 'number') {
      nextOffset = Math.max(nextOffset, msg.offset + lost);
      drain();
    }
  } else if (ahead.size) {
    deferred.push(msg);
  } else {
    handleStatus(msg);
  }
}

/** Asks once whether the host serves the API this page was generated for; only warns. */
async function checkVersion(): Promise<void> {
  try {
    const version = await api.checkVersion();
    hooks.version = version;
    if (!version.compatible) {
      warnVersion(
        'outdated client: reload or rebuild the page',
        `${version.message} (page ${version.client_version}, host ${version.server_version})`,
      );
    }
  } catch (error) {
    hooks.version = { error: describe(error) };
    warnVersion('API version unknown', `could not check the API version ${API_VERSION}: ${describe(error)}`);
  }
}

async function start(): Promise<void> {
  setState('connecting', 'connecting');
  $('user').textContent = `user ${user}`;
  centrifuge.connect();
  await centrifuge.ready();
  void checkVersion();
  const created = await api.terminalCreate({ cols: term.cols, rows: term.rows });
  const id = created.session_id;
  sessionId = id;
  hooks.sessionId = id;
  $('session').textContent = `session ${id.slice(0, 8)}`;

  const sub = centrifuge.newSubscription(`${config.output_channel_prefix}${id}`);
  let live = false;
  const early: PublicationContext[] = [];
  sub.on('publication', (pub) => (live ? handle(pub) : early.push(pub)));
  sub.on('subscribed', async (ctx) => {
    hooks.subscribed = { recoverable: ctx.recoverable, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered };
    if (ctx.wasRecovering && !ctx.recovered) {
      if (offsets) {
        // Centrifugo could not replay what was missed (e.g. it restarted): read what its
        // history has; the offsets then show exactly what, if anything, is missing.
        try {
          const history = await sub.history({ limit: 100 });
          for (const pub of history.publications) handle(pub);
        } catch (error) {
          lossNotice(`output missed while disconnected may be lost (history unavailable: ${describe(error)})`, 0);
        }
      } else {
        lastStreamOffset = 0;
        lossNotice('some output was lost while disconnected', 0);
      }
    }
    if (!live) {
      try {
        const history = await sub.history({ limit: 100 });
        for (const pub of history.publications) handle(pub);
      } catch (error) {
        notice(`history unavailable: ${describe(error)}`);
      }
      live = true;
      for (const pub of early.splice(0)) handle(pub);
    }
    if (!ended) setState('ready', 'connected');
    term.focus();
  });
  sub.on('unsubscribed', (ctx) => end(`unsubscribed: ${ctx.reason}`));
  sub.subscribe();
}

// Closing the tab ends the session (best effort; the host also closes sessions nobody watches).
addEventListener('pagehide', () => {
  if (sessionId && !ended) api.terminalClose({ session_id: sessionId }).catch(() => {});
});

start().catch((error: unknown) => {
  setState('error', `error: ${describe(error)}`);
  $('restart').hidden = false;
  notice(`cannot start a session: ${describe(error)}`);
});

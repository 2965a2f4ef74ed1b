// The seed's browser terminal: xterm.js drawn from a session's channel, keystrokes sent
// as RPCs. Browser -> Centrifugo (terminal.* RPC) -> plughost -> terminal plugin ->
// terminal agent (a PTY); output comes back as publications on terminal#session#<id>.
//
// The RPCs go through the typed client generated from the plugins (src/gen/api.ts, written
// by `plughost codegen --lang ts` in `make web`; git-ignored, never edited by hand).

import { Centrifuge, type PublicationContext } from 'centrifuge';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import './style.css';

import { API_VERSION, ApiClient, RpcError, type CheckVersionResult } from './gen/api';

/** What the page exposes for tests and benchmarks (see tests/node/terminal-browser.test.mjs). */
interface Hooks {
  term: Terminal;
  user: string;
  sessionId: string | null;
  onOutput: ((bytes: Uint8Array) => void) | null;
  outputs: number;
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
  | { type: 'output'; data: string }
  | { type: 'status'; status: string; exit_code?: number };

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

const hooks: Hooks = { term, user, sessionId: null, onOutput: null, outputs: 0 };
window.plughostTerminal = hooks;

function setState(state: string, text?: string): void {
  document.body.dataset.state = state;
  if (text !== undefined) $('conn').textContent = text;
}

function notice(text: string): void {
  term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
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

// Keystrokes go out one RPC at a time, so they reach the shell in order (Centrifugo runs a
// connection's RPCs concurrently); whatever is typed meanwhile goes in the next RPC.
let pending: Uint8Array[] = [];
let sending = false;
function send(bytes: Uint8Array): void {
  if (ended || !sessionId) return;
  pending.push(bytes);
  if (!sending) void flushInput(sessionId);
}
async function flushInput(session_id: string): Promise<void> {
  sending = true;
  while (pending.length && !ended) {
    const parts = pending;
    pending = [];
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    try {
      await api.terminalInput({ session_id, data: toBase64(bytes) });
    } catch (error) {
      notice(`input not sent: ${describe(error)}`);
      if (error instanceof RpcError && (error.code === 1004 || error.code === 1003)) end('session is gone');
    }
  }
  sending = false;
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

// Publications are written once each, in offset order: the first subscription also reads
// the channel's history (the shell's first prompt was published before we subscribed).
let lastOffset = 0;
function handle(pub: PublicationContext): void {
  if (pub.offset) {
    if (pub.offset <= lastOffset) return;
    lastOffset = pub.offset;
  }
  const msg = pub.data as SessionMessage;
  if (msg.type === 'output') {
    const bytes = fromBase64(msg.data);
    hooks.outputs++;
    term.write(bytes);
    hooks.onOutput?.(bytes);
  } else if (msg.type === 'status' && msg.status !== 'running') {
    end(msg.exit_code === undefined ? `session ${msg.status}` : `process exited with code ${msg.exit_code}`);
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
    if (ctx.wasRecovering && !ctx.recovered) notice('some output was lost while disconnected');
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

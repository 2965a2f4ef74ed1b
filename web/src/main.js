// The seed's browser terminal: xterm.js drawn from a session's channel, keystrokes sent
// as RPCs. Browser -> Centrifugo (terminal.* RPC) -> plughost -> terminal plugin ->
// terminal agent (a PTY); output comes back as publications on terminal#session#<id>.

import { Centrifuge } from 'centrifuge';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import './style.css';

const $ = (id) => document.getElementById(id);
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

/** Hooks for tests and benchmarks (see tests/node/terminal-browser.test.mjs). */
const hooks = { term, user, sessionId: null, onOutput: null, outputs: 0 };
window.plughostTerminal = hooks;

function setState(state, text) {
  document.body.dataset.state = state;
  if (text !== undefined) $('conn').textContent = text;
}

function notice(text) {
  term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
}

function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function getToken() {
  const res = await fetch(`/terminal/token?user=${encodeURIComponent(user)}`, { cache: 'no-store' });
  if (!res.ok) {
    const why = res.status === 404 ? 'this host hands out no demo tokens (demo_tokens = false)' : await res.text();
    setState('error', `no token: ${why}`);
    throw new Error(why);
  }
  return (await res.json()).token;
}

const config = await (await fetch('/terminal/config.json', { cache: 'no-store' })).json();
const centrifuge = new Centrifuge(config.websocket_url, { getToken, timeout: 10000 });
hooks.centrifuge = centrifuge;
centrifuge.on('connecting', (ctx) => setState(document.body.dataset.state === 'ready' ? 'reconnecting' : 'connecting', `connecting (${ctx.reason})`));
centrifuge.on('connected', () => $('conn').textContent = 'connected');
centrifuge.on('disconnected', (ctx) => setState('disconnected', `disconnected: ${ctx.reason}`));

let sessionId = null;
let ended = false;

// Keystrokes go out one RPC at a time, so they reach the shell in order (Centrifugo runs a
// connection's RPCs concurrently); whatever is typed meanwhile goes in the next RPC.
let pending = [];
let sending = false;
function send(bytes) {
  if (ended || !sessionId) return;
  pending.push(bytes);
  if (!sending) flushInput();
}
async function flushInput() {
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
      await centrifuge.rpc('terminal.input', { session_id: sessionId, data: toBase64(bytes) });
    } catch (error) {
      notice(`input not sent: ${error.message ?? error.code}`);
      if (error.code === 1004 || error.code === 1003) end('session is gone');
    }
  }
  sending = false;
}
term.onData((data) => send(encoder.encode(data)));
// Mouse reports and the like come as binary strings (one byte per char).
term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));

let resizeTimer;
term.onResize(({ cols, rows }) => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (sessionId && !ended) {
      centrifuge.rpc('terminal.resize', { session_id: sessionId, cols, rows }).catch((e) => notice(`resize failed: ${e.message}`));
    }
  }, 100);
});
new ResizeObserver(() => fit.fit()).observe($('terminal'));

function end(why) {
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
function handle(pub) {
  if (pub.offset) {
    if (pub.offset <= lastOffset) return;
    lastOffset = pub.offset;
  }
  const msg = pub.data;
  if (msg.type === 'output') {
    const bytes = fromBase64(msg.data);
    hooks.outputs++;
    term.write(bytes);
    hooks.onOutput?.(bytes);
  } else if (msg.type === 'status' && msg.status !== 'running') {
    end(msg.exit_code === undefined ? `session ${msg.status}` : `process exited with code ${msg.exit_code}`);
  }
}

async function start() {
  setState('connecting', 'connecting');
  $('user').textContent = `user ${user}`;
  centrifuge.connect();
  await centrifuge.ready();
  const { data } = await centrifuge.rpc('terminal.create', { cols: term.cols, rows: term.rows });
  sessionId = data.session_id;
  hooks.sessionId = sessionId;
  $('session').textContent = `session ${sessionId.slice(0, 8)}`;

  const sub = centrifuge.newSubscription(`${config.output_channel_prefix}${sessionId}`);
  let live = false;
  const early = [];
  sub.on('publication', (pub) => (live ? handle(pub) : early.push(pub)));
  sub.on('subscribed', async (ctx) => {
    hooks.subscribed = { recoverable: ctx.recoverable, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered };
    if (ctx.wasRecovering && !ctx.recovered) notice('some output was lost while disconnected');
    if (!live) {
      try {
        const history = await sub.history({ limit: 100 });
        for (const pub of history.publications) handle(pub);
      } catch (error) {
        notice(`history unavailable: ${error.message}`);
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
  if (sessionId && !ended) centrifuge.rpc('terminal.close', { session_id: sessionId }).catch(() => {});
});

start().catch((error) => {
  setState('error', `error: ${error.message ?? JSON.stringify(error)}`);
  $('restart').hidden = false;
  notice(`cannot start a session: ${error.message ?? JSON.stringify(error)}`);
});

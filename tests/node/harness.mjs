// Test harness: a full stack on free loopback ports (the real Centrifugo, `plughost serve`
// with chosen plugins), token minting, Centrifuge clients, and teardown that kills everything.
//
// Binaries: PLUGHOST_BIN (default <repo>/target/release/plughost), CENTRIFUGO_BIN
// (default <repo>/.tools/bin/centrifugo) and TERMINAL_AGENT_BIN (default
// <repo>/target/release/terminal-agent; an agent without --token-file, from before issue 14,
// is started on loopback TCP without a token). PLUGHOST_PLUGIN_DIRS replaces the plugin
// folders. A missing binary or plugin is an error, never a skip.
// PLUGHOST_E2E_KEEP=1 keeps each stack's temp folder (configs and logs); PLUGHOST_E2E_VERBOSE=1
// copies the processes' output to stderr.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

const execFileP = promisify(execFile);

/** The repository root (this file is <repo>/tests/node/harness.mjs). */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PLUGHOST_BIN = process.env.PLUGHOST_BIN || path.join(REPO, 'target', 'release', 'plughost');
export const CENTRIFUGO_BIN = process.env.CENTRIFUGO_BIN || path.join(REPO, '.tools', 'bin', 'centrifugo');
/** The terminal agent, started only for stacks with `terminalAgent: true`. */
export const TERMINAL_AGENT_BIN =
  process.env.TERMINAL_AGENT_BIN || path.join(REPO, 'target', 'release', 'terminal-agent');
/**
 * Folders searched for `<name>.wasm`: the example plugins, then the test fixtures; or
 * PLUGHOST_PLUGIN_DIRS (colon-separated), e.g. an older checkout's plugins for its binaries.
 */
export const PLUGIN_DIRS = process.env.PLUGHOST_PLUGIN_DIRS
  ? process.env.PLUGHOST_PLUGIN_DIRS.split(':').filter(Boolean)
  : [path.join(REPO, 'plugins'), path.join(REPO, 'tests', 'plugins')];
/** Precompiled plugins are shared between stacks and runs (an ignored folder of the repo). */
const CACHE_DIR = process.env.PLUGHOST_E2E_CACHE || path.join(REPO, '.cache', 'node-e2e');

const KEEP = Boolean(process.env.PLUGHOST_E2E_KEEP);
const VERBOSE = Boolean(process.env.PLUGHOST_E2E_VERBOSE);
const READY_TIMEOUT_MS = 30_000;

/** Throws (loudly, with what to do) unless both binaries exist and are executable. */
export function requireBinaries() {
  const missing = [];
  for (const [name, file, hint] of [
    ['plughost', PLUGHOST_BIN, 'cargo build --release -p plughost, or set PLUGHOST_BIN'],
    ['centrifugo', CENTRIFUGO_BIN, 'install Centrifugo v6 into .tools/bin, or set CENTRIFUGO_BIN'],
  ]) {
    try {
      accessSync(file, fsConstants.X_OK);
    } catch {
      missing.push(`${name} binary not found or not executable at ${file} (${hint})`);
    }
  }
  if (missing.length) throw new Error(`end-to-end tests cannot run:\n  ${missing.join('\n  ')}`);
}

/** The path of plugin `<name>.wasm` (throws if it was not built). */
export function pluginPath(name) {
  for (const dir of PLUGIN_DIRS) {
    const file = path.join(dir, `${name}.wasm`);
    if (existsSync(file)) return file;
  }
  throw new Error(
    `plugin ${name}.wasm not found in ${PLUGIN_DIRS.join(' or ')} (run \`make plugins test-plugins\`)`,
  );
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with `what` timed out after `ms`, unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The environment for child processes, without variables that would override their config files. */
function childEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PLUGHOST_') || key.startsWith('CENTRIFUGO_')) continue;
    env[key] = value;
  }
  return env;
}

// Every child process still running, so a crash or a signal never leaves one behind.
const live = new Set();
function killAllNow() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  });
}

/**
 * A child process whose output goes to a log file, with the last lines kept for error messages.
 * The log is appended to, so a process restarted by a test keeps its earlier lines.
 */
export class Proc {
  constructor(name, bin, args, { cwd, logFile, env }) {
    this.name = name;
    this.tail = [];
    this.exited = null;
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.logFile = logFile;
    this.child = spawn(bin, args, { cwd, env: { ...childEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.child.on('error', (error) => {
        live.delete(this.child);
        this.exited = { error };
        resolve(this.exited);
      });
    });
    const onData = (chunk) => {
      this.log.write(chunk);
      if (VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    this.child.stdout.on('data', onData);
    this.child.stderr.on('data', onData);
    // A stack a test forgot to stop must not keep the test process alive: when nothing else
    // is left to do the process exits, and its 'exit' handler kills the children.
    this.child.unref();
    this.child.stdout.unref();
    this.child.stderr.unref();
  }

  describe() {
    const state = this.exited ? `exited ${JSON.stringify(this.exited)}` : `running (pid ${this.child.pid})`;
    return `${this.name} ${state}; log ${this.logFile}; last lines:\n    ${this.tail.join('\n    ')}`;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 3000) {
    if (!this.exited) {
      this.child.ref(); // keep the process alive until the child is gone
      this.child.kill('SIGTERM');
      const exited = await Promise.race([this.exitPromise, sleep(graceMs).then(() => null)]);
      if (!exited) {
        this.child.kill('SIGKILL');
        await this.exitPromise;
      }
    }
    await this.closeLog();
    return this.exited;
  }

  /** Flushes and closes the log file (once). */
  closeLog() {
    this.logClosed ??= new Promise((resolve) => this.log.end(resolve));
    return this.logClosed;
  }

  /** SIGKILL (no chance to clean up), and waits for the exit. */
  async kill() {
    if (!this.exited) {
      this.child.ref();
      this.child.kill('SIGKILL');
      await this.exitPromise;
    }
    await this.closeLog();
    return this.exited;
  }
}

/**
 * What the terminal agent binary supports, read from its `--help` once: `token` (it takes
 * `--token-file` and `--listen unix:PATH`, issue 14's agent) and `allowCommand`. An older
 * agent (e.g. PLUGHOST_BIN/TERMINAL_AGENT_BIN pointing at a build from before) gets neither.
 */
let agentFeatures;
export async function terminalAgentFeatures() {
  if (!agentFeatures) {
    const { stdout } = await execFileP(TERMINAL_AGENT_BIN, ['--help'], { env: childEnv(), timeout: 10_000 });
    agentFeatures = {
      token: stdout.includes('--token-file'),
      allowCommand: stdout.includes('--allow-command'),
    };
  }
  return agentFeatures;
}

/** Resolves true once something accepts connections on `target` ({port} or {path}). */
function canConnect(target) {
  return new Promise((resolve) => {
    const socket = target.path ? net.connect(target.path) : net.connect(target.port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` (an async function returning truthy when ready) until it succeeds. */
async function waitUntil(check, what, procs, timeoutMs = READY_TIMEOUT_MS) {
  const started = Date.now();
  let lastError;
  while (Date.now() - started < timeoutMs) {
    for (const p of procs) {
      if (p.exited) throw new Error(`${what}: ${p.name} exited during startup\n  ${p.describe()}`);
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(
    `${what}: not ready after ${timeoutMs} ms (${lastError?.message ?? 'no answer'})\n  ${procs.map((p) => p.describe()).join('\n  ')}`,
  );
}

/** An async queue of a subscription's publications. */
export class Inbox {
  constructor(sub) {
    this.items = [];
    this.waiters = [];
    sub.on('publication', (ctx) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(ctx);
      else this.items.push(ctx);
    });
  }

  /** The next publication's context (`ctx.data` is the payload). */
  next(timeoutMs = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    let resolveFn;
    const promise = new Promise((resolve) => {
      resolveFn = resolve;
      this.waiters.push(resolve);
    });
    return withTimeout(promise, timeoutMs, 'waiting for a publication').catch((error) => {
      this.waiters = this.waiters.filter((w) => w !== resolveFn);
      throw error;
    });
  }

  /** How many publications arrived and were not taken with next(). */
  get pending() {
    return this.items.length;
  }
}

/**
 * Starts Centrifugo and `plughost serve` for `plugins`, a map from plugin name to its
 * manifest text (or null for none), and waits until both answer. An entry may also be
 * `{file, manifest}`: `file` (a path) is installed as `<name>.wasm`, e.g. a fixture's v2.
 *
 * Options: `apiUrl` (what the host uses as Centrifugo's API, default the real one),
 * `apiTimeout` (default "2s"), `deadline` (host default, "5s"), `centrifugo` (false: host
 * only), `extraHostToml` (appended to host.toml), `hostTomlTop` (top-level host.toml lines),
 * `terminalAgent` (true: also start terminal-agent and set the host's terminal_endpoint; an
 * agent that supports it gets a random token in a 0600 file and listens on a Unix socket in the
 * stack's folder, the host gets `terminal_endpoint = "unix:..."` and `terminal_token`),
 * `terminalListen` ('tcp': the agent listens on 127.0.0.1:PORT instead of the socket),
 * `agentArgs` (extra terminal-agent arguments, e.g. `['--allow-command', '/bin/sh']`),
 * `grpc` (true: the host also serves the gRPC proxy and Centrifugo's proxies point at it,
 * from `centrifugo-config --grpc`), `grpcApi` (true: the host publishes through Centrifugo's
 * gRPC server API, `api = "grpc"`), `grpcApiUrl` (overrides the address it dials),
 * `pluginsDir` (an existing plugins folder to serve, e.g. one shared by several stacks;
 * `plugins` are then not copied), `centrifugoExtra` (top-level keys merged into the
 * Centrifugo config that runs, e.g. `{engine: {...}}`), `editCentrifugoConfig` (a function
 * that may change that config in place), `readyTimeoutMs` (how long the host may take to load
 * its plugins: `plughost serve` to answer, default 30 s, and `centrifugo-config`, which fills the
 * compile cache, at least 60 s; raise it for plugins whose cold compile is slow).
 */
export async function startStack(plugins, options = {}) {
  requireBinaries();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plughost-e2e-'));
  const stack = new Stack(dir);
  try {
    await stack.start(plugins, options);
    return stack;
  } catch (error) {
    await stack.stop({ keep: true });
    error.message += `\n  (stack files kept in ${dir})`;
    throw error;
  }
}

export class Stack {
  constructor(dir) {
    this.dir = dir;
    this.procs = [];
    this.clients = new Set();
  }

  async start(plugins, options) {
    const pluginsDir = options.pluginsDir ?? path.join(this.dir, 'plugins');
    this.pluginsDir = pluginsDir;
    this.readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
    if (!options.pluginsDir) {
      mkdirSync(pluginsDir);
      for (const [name, entry] of Object.entries(plugins)) {
        const { file, manifest } = entry !== null && typeof entry === 'object' ? entry : { manifest: entry };
        await copyFile(file ?? pluginPath(name), path.join(pluginsDir, `${name}.wasm`));
        if (manifest) await writeFile(path.join(pluginsDir, `${name}.toml`), manifest);
      }
    }
    mkdirSync(CACHE_DIR, { recursive: true });

    this.hostPort = await freePort();
    this.centrifugoPort = await freePort();
    this.secret = randomBytes(16).toString('hex');
    this.apiKey = randomBytes(16).toString('hex');
    this.tokenSecret = randomBytes(24).toString('hex');
    this.hostUrl = `http://127.0.0.1:${this.hostPort}`;
    this.centrifugoUrl = `http://127.0.0.1:${this.centrifugoPort}`;
    this.wsUrl = `ws://127.0.0.1:${this.centrifugoPort}/connection/websocket`;
    this.apiUrl = `${this.centrifugoUrl}/api`;
    this.hostApiUrl = options.apiUrl ?? this.apiUrl;
    this.apiTimeout = options.apiTimeout ?? '2s';

    if (options.terminalAgent) await this.prepareAgent(options);
    if (options.grpc) this.grpcPort = await freePort();
    if (options.grpcApi) this.grpcApiPort = await freePort();
    this.hostToml = path.join(this.dir, 'host.toml');
    await writeFile(
      this.hostToml,
      [
        `listen = "127.0.0.1:${this.hostPort}"`,
        `plugins_dir = ${JSON.stringify(pluginsDir)}`,
        `cache_dir = ${JSON.stringify(CACHE_DIR)}`,
        `proxy_secret = "${this.secret}"`,
        `shutdown_grace = "1s"`,
        ...(options.terminalAgent ? [`terminal_endpoint = ${JSON.stringify(this.terminalEndpoint)}`] : []),
        ...(this.agentToken ? [`terminal_token = ${JSON.stringify(this.agentToken)}`] : []),
        ...(options.grpc ? [`grpc_listen = "127.0.0.1:${this.grpcPort}"`] : []),
        options.hostTomlTop ?? '',
        '',
        '[limits]',
        `deadline = "${options.deadline ?? '5s'}"`,
        '',
        '[centrifugo]',
        `api_url = ${JSON.stringify(this.hostApiUrl)}`,
        `api_key = "${this.apiKey}"`,
        `token_secret = "${this.tokenSecret}"`,
        `api_timeout = "${this.apiTimeout}"`,
        `port = ${this.centrifugoPort}`,
        ...(options.grpcApi
          ? ['api = "grpc"', `grpc_api_url = ${JSON.stringify(options.grpcApiUrl ?? `http://127.0.0.1:${this.grpcApiPort}`)}`]
          : []),
        '',
        options.extraHostToml ?? '',
      ].join('\n'),
    );

    const started = [];
    if (options.terminalAgent) started.push(this.startAgent());
    if (options.centrifugo !== false) {
      // The config exactly as plughost generates it, kept for checkconfig ...
      this.generatedConfig = path.join(this.dir, 'centrifugo.generated.json');
      const { stdout } = await this.plughost(['centrifugo-config', ...(options.grpc ? ['--grpc'] : [])], {
        timeout: Math.max(60_000, this.readyTimeoutMs),
      });
      await writeFile(this.generatedConfig, stdout);
      // ... and the one we run, which only adds settings that keep the test machine quiet.
      const config = JSON.parse(stdout);
      config.usage_stats = { ...(config.usage_stats ?? {}), disabled: true };
      config.log = { ...(config.log ?? {}), level: VERBOSE ? 'debug' : 'info' };
      Object.assign(config, options.centrifugoExtra ?? {});
      options.editCentrifugoConfig?.(config);
      this.centrifugoConfig = JSON.parse(JSON.stringify(config));
      this.centrifugoConfigFile = path.join(this.dir, 'centrifugo.json');
      await writeFile(this.centrifugoConfigFile, JSON.stringify(config, null, 2));
      started.push(this.startCentrifugo());
    }
    started.push(this.startHost());
    await Promise.all(started);
  }

  /** Chooses the agent's address and, if it takes one, writes its token (0600). */
  async prepareAgent(options) {
    try {
      accessSync(TERMINAL_AGENT_BIN, fsConstants.X_OK);
    } catch {
      throw new Error(`terminal-agent binary not found at ${TERMINAL_AGENT_BIN} (cargo build --release -p terminal-agent)`);
    }
    const features = await terminalAgentFeatures();
    this.agentArgs = [...(options.agentArgs ?? [])];
    if (features.token) {
      // 32 URL-safe characters; never printed.
      this.agentToken = randomBytes(24).toString('base64url');
      this.agentTokenFile = path.join(this.dir, 'agent.token');
      await writeFile(this.agentTokenFile, `${this.agentToken}\n`, { mode: 0o600 });
      await chmod(this.agentTokenFile, 0o600);
      this.agentArgs.push('--token-file', this.agentTokenFile);
    }
    if (features.token && options.terminalListen !== 'tcp') {
      this.agentSocket = path.join(this.dir, 'agent.sock');
      this.agentListen = `unix:${this.agentSocket}`;
      this.terminalEndpoint = this.agentListen;
    } else {
      this.terminalPort = await freePort();
      this.agentListen = `127.0.0.1:${this.terminalPort}`;
      this.terminalEndpoint = `http://127.0.0.1:${this.terminalPort}`;
    }
  }

  /** Replaces `old` (if any) with `proc` in the list of processes the stack stops. */
  track(old, proc) {
    const i = old ? this.procs.indexOf(old) : -1;
    if (i >= 0) this.procs[i] = proc;
    else this.procs.push(proc);
  }

  /** Starts terminal-agent (same address, token and arguments each time) and waits until it accepts connections. */
  async startAgent() {
    const agent = new Proc('terminal-agent', TERMINAL_AGENT_BIN, ['--listen', this.agentListen, ...this.agentArgs], {
      cwd: this.dir,
      logFile: path.join(this.dir, 'terminal-agent.log'),
      // Sessions start in the stack's folder with no ~/.bashrc: the tester's shell startup
      // files (a slow or locked `pyenv init`, a prompt command...) stay out of the tests.
      env: { HOME: this.dir },
    });
    this.track(this.agent, agent);
    this.agent = agent;
    const target = this.agentSocket ? { path: this.agentSocket } : { port: this.terminalPort };
    await waitUntil(() => canConnect(target), 'terminal-agent readiness', [agent]);
    return agent;
  }

  /** Stops the agent: SIGTERM (graceful), or SIGKILL with `{kill: true}`. Returns how it exited. */
  stopAgent({ kill = false } = {}) {
    return kill ? this.agent.kill() : this.agent.stop();
  }

  /** Stops the agent (see stopAgent), waits `downMs`, starts it again. Returns how the old one exited. */
  async restartAgent({ kill = false, downMs = 0 } = {}) {
    const exited = await this.stopAgent({ kill });
    if (downMs) await sleep(downMs);
    await this.startAgent();
    return exited;
  }

  /** Starts Centrifugo with the stack's config and port, and waits until its API answers. */
  async startCentrifugo() {
    const centrifugo = new Proc('centrifugo', CENTRIFUGO_BIN, ['--config', this.centrifugoConfigFile], {
      cwd: this.dir,
      logFile: path.join(this.dir, 'centrifugo.log'),
    });
    this.track(this.centrifugo, centrifugo);
    this.centrifugo = centrifugo;
    await waitUntil(() => this.api('info', {}).then(() => true), 'centrifugo readiness', [centrifugo]);
    return centrifugo;
  }

  /** Stops Centrifugo (SIGTERM, or SIGKILL with `{kill: true}`). Returns how it exited. */
  stopCentrifugo({ kill = false } = {}) {
    return kill ? this.centrifugo.kill() : this.centrifugo.stop();
  }

  /** Stops Centrifugo, waits `downMs`, starts it again on the same port with the same config. */
  async restartCentrifugo({ kill = false, downMs = 0 } = {}) {
    const exited = await this.stopCentrifugo({ kill });
    if (downMs) await sleep(downMs);
    await this.startCentrifugo();
    return exited;
  }

  /** Starts `plughost serve` with the stack's host.toml and waits for /healthz. */
  async startHost() {
    const host = new Proc('plughost', PLUGHOST_BIN, ['--config', this.hostToml, 'serve'], {
      cwd: this.dir,
      logFile: path.join(this.dir, 'plughost.log'),
    });
    this.track(this.host, host);
    this.host = host;
    await waitUntil(
      async () => {
        const res = await fetch(`${this.hostUrl}/healthz`);
        return res.status === 200 && (await res.text()).trim() === 'ok';
      },
      'plughost readiness',
      [host],
      this.readyTimeoutMs,
    );
    return host;
  }

  /**
   * Stops the host gracefully (SIGTERM; SIGKILL only after `graceMs`, or at once with
   * `{kill: true}`). Returns how it exited (`{code: 0}` after a clean shutdown).
   */
  stopHost({ kill = false, graceMs = 10_000 } = {}) {
    return kill ? this.host.kill() : this.host.stop(graceMs);
  }

  /** Stops the host (see stopHost), waits `downMs`, starts it again with the same config. */
  async restartHost({ kill = false, graceMs, downMs = 0 } = {}) {
    const exited = await this.stopHost({ kill, graceMs });
    if (downMs) await sleep(downMs);
    await this.startHost();
    return exited;
  }

  /** Runs `plughost --config host.toml ARGS...` and returns {stdout, stderr} (`timeout` in ms, default 60 s). */
  plughost(args, { timeout = 60_000 } = {}) {
    return execFileP(PLUGHOST_BIN, ['--config', this.hostToml, ...args], {
      env: childEnv(),
      cwd: this.dir,
      timeout,
    });
  }

  /** An HS256 connection token for `user` (or a subscription token with `channel`). */
  async token(user, { ttl = '1h', channel } = {}) {
    const args = ['token', '--user', String(user), '--ttl', ttl];
    if (channel) args.push('--channel', channel);
    const { stdout } = await this.plughost(args);
    return stdout.trim();
  }

  /** Calls Centrifugo's server API; returns `result` and throws on an `error` reply. */
  async api(command, body) {
    const res = await fetch(`${this.apiUrl}/${command}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': this.apiKey },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`Centrifugo API ${command}: HTTP ${res.status}`);
    const reply = await res.json();
    if (reply.error) throw Object.assign(new Error(`Centrifugo API ${command}: ${JSON.stringify(reply.error)}`), reply.error);
    return reply.result ?? {};
  }

  /** A raw POST to the host (`/centrifugo/rpc` etc.), with the secret unless `headers` replace it. */
  async post(pathname, body, { headers } = {}) {
    const res = await fetch(`${this.hostUrl}${pathname}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(headers ?? { 'X-Plughost-Secret': this.secret }),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  /**
   * A connected Centrifuge client for `user` (a token is minted), or with `{token}`.
   * Rejects if the connection does not reach the connected state.
   */
  async connect(user, { token, timeout = 10_000, ...options } = {}) {
    const client = new Centrifuge(this.wsUrl, {
      websocket: WebSocket,
      token: token ?? (await this.token(user)),
      timeout,
      minReconnectDelay: 100,
      maxReconnectDelay: 1000,
      ...options,
    });
    this.clients.add(client);
    let disconnectReason;
    client.on('disconnected', (ctx) => {
      disconnectReason = ctx;
    });
    client.connect();
    try {
      await client.ready(10_000);
    } catch (error) {
      client.disconnect();
      throw new Error(`client for ${user} did not connect: ${JSON.stringify(error)} ${JSON.stringify(disconnectReason ?? {})}`);
    }
    return client;
  }

  /**
   * Subscribes `client` to `channel` and waits for the outcome: resolves `{sub, inbox,
   * subscribed}` once subscribed (`subscribed` is the event's context: `subscribed.data` is
   * the subscribe proxy's `data`), rejects with `{code, reason}` (from the `unsubscribed`
   * event) if refused.
   */
  async subscribe(client, channel, options = {}) {
    const sub = client.newSubscription(channel, options);
    const inbox = new Inbox(sub);
    const refused = new Promise((_, reject) => {
      sub.on('unsubscribed', (ctx) => reject(Object.assign(new Error(`subscription to ${channel} refused: ${ctx.code} ${ctx.reason}`), ctx)));
    });
    refused.catch(() => {});
    const subscribed = new Promise((resolve) => sub.on('subscribed', resolve));
    sub.subscribe();
    let ctx;
    try {
      ctx = await withTimeout(Promise.race([subscribed, refused]), 10_000, `subscribing to ${channel}`);
    } catch (error) {
      client.removeSubscription(sub);
      throw error;
    }
    return { sub, inbox, subscribed: ctx };
  }

  /** Disconnects every client, stops both processes, and removes the temp folder. */
  async stop({ keep = KEEP } = {}) {
    for (const client of this.clients) {
      try {
        client.disconnect();
      } catch {
        // ignore
      }
    }
    this.clients.clear();
    const crashed = this.procs.filter((p) => p.exited && p.exited.signal == null && p.exited.code !== 0);
    await Promise.all(this.procs.map((p) => p.stop()));
    if (crashed.length) {
      process.stderr.write(`stack ${this.dir}: process exited early:\n  ${crashed.map((p) => p.describe()).join('\n  ')}\n`);
    }
    if (!keep && !crashed.length) await rm(this.dir, { recursive: true, force: true });
  }

  /** The host's log so far (for assertions on what it logged). */
  hostLog() {
    return readFile(this.host.logFile, 'utf8');
  }
}

// Benchmark (not a test): RPC round trips through the real Centrifugo, with its RPC proxy
// pointed at plughost or at django-cfg 1.7.87 (the seed's system), in one sitting, and
// publish throughput of one plugin.
//
//   node bench-rtt.mjs [--backend plughost[,django-cfg,django-cfg-bare]] [--clients 50]
//                      [--duration 10] [--publishers 8] [--publish-duration 5]
//
// Backends, run one after another, each alone on the machine:
//   plughost         Centrifugo -> `plughost serve` with plugins/echo.wasm (HTTP proxy)
//   django-cfg       Centrifugo -> a django-cfg 1.7.87 project with its default middleware
//   django-cfg-bare  Centrifugo -> django-cfg 1.7.87's RPCProxyView alone in a bare Django
// The django-cfg ones are served by uvicorn with 2 workers (bench/django.sh, which installs
// django-cfg into bench/.django/ on first use and fails loudly if it cannot); their echo handler
// is registered with @websocket_rpc("echo") and returns the same reply as plugins/echo.
//
// 1. RTT: N clients each call rpc('echo') one after another for --duration seconds; every reply
//    is checked (the echo of the params, nothing else). Prints calls/s, p50/p90/p99/max round
//    trip, errors and bad replies; with several backends, a table with the ratios.
// 2. Publish rate (plughost only; --publish-duration 0 skips it): --publishers clients call
//    rpc('notifications.send') in a loop to one user whose single subscriber counts what it
//    receives each second. A publication that never arrives is a failure.
// The last line starts with `bench-rtt: PASS` or `bench-rtt: FAIL` (any error, bad reply,
// failed warm-up call or lost publication); FAIL exits 1.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Proc, REPO, freePort, sleep, startStack } from './harness.mjs';
import { measureEchoRtt, percentile, warmUp } from './rtt.mjs';

const { values: opts } = parseArgs({
  options: {
    backend: { type: 'string', default: 'plughost' },
    clients: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    publishers: { type: 'string', default: '8' },
    'publish-duration': { type: 'string', default: '5' },
  },
});
const BACKENDS = opts.backend.split(',').map((b) => b.trim()).filter(Boolean);
const DJANGO = { 'django-cfg': 'full', 'django-cfg-bare': 'bare' };
for (const b of BACKENDS) {
  if (b !== 'plughost' && !DJANGO[b]) throw new Error(`unknown backend ${b} (plughost, django-cfg, django-cfg-bare)`);
}
const CLIENTS = Number(opts.clients);
const DURATION_MS = Number(opts.duration) * 1000;
const PUBLISHERS = Number(opts.publishers);
const PUBLISH_MS = Number(opts['publish-duration']) * 1000;
const PARAMS = { session_id: 'bench', data: 'bHMgLWxhCg==' };
const ECHO_BODY = JSON.stringify({ client: 'c', user: 'u', method: 'echo', data: PARAMS });

const fmt = (ms) => `${ms.toFixed(2)} ms`;
const problems = [];

/** Starts `bench/django.sh serve <project> PORT` and waits until it answers the echo call. */
async function startDjango(project, dir) {
  const port = await freePort();
  const proc = new Proc(`django-cfg-${project}`, path.join(REPO, 'bench', 'django.sh'), ['serve', project, String(port)], {
    cwd: REPO,
    logFile: path.join(dir, `django-${project}.log`),
  });
  const url = `http://127.0.0.1:${port}/centrifugo/rpc/`;
  const started = Date.now();
  for (;;) {
    if (proc.exited) throw new Error(`django-cfg (${project}) exited at startup\n  ${proc.describe()}`);
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: ECHO_BODY });
      if (res.status === 200 && (await res.text()).includes('"echoed"')) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 60_000) {
      await proc.stop();
      throw new Error(`django-cfg (${project}) did not answer within 60 s\n  ${proc.describe()}`);
    }
    await sleep(100);
  }
  return { proc, url };
}

/** One backend: Centrifugo (+ plughost) with the RPC proxy pointed at it; returns the RTT figures. */
async function run(backend) {
  let django;
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'plughost-bench-django-'));
  if (DJANGO[backend]) {
    django = await startDjango(DJANGO[backend], logDir);
  }
  // For django-cfg the host serves no echo plugin: a call that reached it would fail, not pass.
  const plugins = django
    ? {}
    : { echo: null, notifications: 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n' };
  const stack = await startStack(plugins, {
    editCentrifugoConfig: (config) => {
      if (django) config.rpc.proxy.endpoint = django.url;
    },
  });
  try {
    const endpoint = stack.centrifugoConfig.rpc.proxy.endpoint;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => stack.connect(`bench-${i}`)));
    // Warm up: every client a few times, so connections (and plugin instances) exist.
    const warmFailed = await warmUp(clients, PARAMS, 3);
    const { rtts, errors, bad, samples, elapsed } = await measureEchoRtt(clients, PARAMS, DURATION_MS);
    const r = {
      backend,
      endpoint,
      calls: rtts.length,
      errors,
      bad,
      warmFailed,
      rate: rtts.length / elapsed,
      p50: percentile(rtts, 50),
      p90: percentile(rtts, 90),
      p99: percentile(rtts, 99),
      max: rtts.at(-1) ?? NaN,
      elapsed,
    };
    console.log(`\n${backend}: rpc('echo') via ${endpoint}, ${CLIENTS} clients, sequential calls each, ${elapsed.toFixed(1)} s`);
    console.log(`  calls     ${r.calls} ok, ${errors} errors, ${bad} bad replies (warm-up: ${warmFailed} failed)`);
    console.log(`  rate      ${r.rate.toFixed(0)} calls/s`);
    console.log(`  rtt       p50 ${fmt(r.p50)}  p90 ${fmt(r.p90)}  p99 ${fmt(r.p99)}  max ${fmt(r.max)}`);
    for (const s of samples) console.log(`  ${s}`);
    if (errors || bad || warmFailed) problems.push(`${backend}: ${errors} errors, ${bad} bad replies, ${warmFailed} failed warm-up calls`);
    if (!django && PUBLISH_MS > 0) await publishRate(stack, clients);
    return r;
  } finally {
    await stack.stop();
    if (django) {
      const exited = await django.proc.stop(10_000);
      if (exited?.code === 0 || exited?.signal) rmSync(logDir, { recursive: true, force: true });
      else console.log(`  django-cfg exited ${JSON.stringify(exited)}; log kept in ${logDir}`);
    } else {
      rmSync(logDir, { recursive: true, force: true });
    }
  }
}

/** Publish throughput of notifications.send, counted at one subscriber. */
async function publishRate(stack, clients) {
  const subscriber = await stack.connect('sink');
  const { sub } = await stack.subscribe(subscriber, 'user#sink');
  let received = 0;
  sub.on('publication', () => {
    received++;
  });
  const publishers = clients.slice(0, PUBLISHERS);
  let sent = 0;
  let publishErrors = 0;
  const perSecond = [];
  const pubStart = performance.now();
  const pubEnd = pubStart + PUBLISH_MS;
  const sampler = (async () => {
    let last = 0;
    for (let second = 1; second * 1000 <= PUBLISH_MS; second++) {
      await sleep(pubStart + second * 1000 - performance.now());
      perSecond.push(received - last);
      last = received;
    }
  })();
  await Promise.all(
    publishers.map(async (c, i) => {
      let n = 0;
      while (performance.now() < pubEnd) {
        try {
          await c.rpc('notifications.send', { user_id: 'sink', title: `p${i}`, body: String(n++) });
          sent++;
        } catch {
          publishErrors++;
        }
      }
    }),
  );
  const pubElapsed = (performance.now() - pubStart) / 1000;
  await sampler;
  // Let publications still in flight arrive (bounded wait).
  for (let i = 0; i < 20 && received < sent; i++) await sleep(100);
  console.log(`\npublish via notifications.send: ${PUBLISHERS} publishing clients, 1 subscriber, ${pubElapsed.toFixed(1)} s`);
  console.log(`  sent      ${sent} ok (${(sent / pubElapsed).toFixed(0)}/s), ${publishErrors} errors`);
  console.log(`  received  ${received} by the subscriber (${sent - received} missing)`);
  console.log(`  received per second  ${perSecond.join(' ')}`);
  if (publishErrors || received !== sent) {
    problems.push(`publish: ${publishErrors} errors, ${sent - received} publications missing`);
  }
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`bench-rtt: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (${cpu}), load ${load()}`);
if (BACKENDS.some((b) => DJANGO[b])) {
  execFileSync(path.join(REPO, 'bench', 'django.sh'), ['install'], { stdio: 'inherit' });
}
const results = [];
for (const backend of BACKENDS) results.push(await run(backend));
console.log(`\nload average after: ${load()}`);

if (results.length > 1) {
  const by = Object.fromEntries(results.map((r) => [r.backend, r]));
  const ratio = (a, b) => (b ? `${(a / b).toFixed(1)}x` : '-');
  console.log(`\n| Centrifugo RPC proxy -> | calls/s | p50 | p99 | errors | vs django-cfg | vs django-cfg view alone |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const r of results) {
    const full = by['django-cfg'];
    const bare = by['django-cfg-bare'];
    const errs = r.errors + r.bad + r.warmFailed;
    console.log(
      `| ${r.backend} | ${r.rate.toFixed(0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${errs} | ` +
        `${full && r !== full ? ratio(r.rate, full.rate) : '-'} | ${bare && r !== bare ? ratio(r.rate, bare.rate) : '-'} |`,
    );
  }
}
if (problems.length) {
  console.log(`bench-rtt: FAIL: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`bench-rtt: PASS: ${results.map((r) => `${r.backend} ${r.rate.toFixed(0)} calls/s`).join(', ')}; every reply checked, 0 errors`);

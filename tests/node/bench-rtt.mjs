// Benchmark (not a test): RPC round trips and publish throughput through the real Centrifugo.
//
//   node bench-rtt.mjs [--clients 50] [--duration 10] [--publishers 8] [--publish-duration 5]
//
// 1. RTT: N clients each call rpc('echo') one after another for --duration seconds;
//    prints p50/p90/p99/max round-trip time and the total call rate.
// 2. Publish rate: --publishers clients call rpc('notifications.send') in a loop (the plugin
//    publishes each through Centrifugo's server API) to one user whose single subscriber
//    counts the publications it receives each second.
// Everything runs on loopback; loops are bounded by the durations.

import { parseArgs } from 'node:util';

import { startStack, sleep } from './harness.mjs';
import { measureEchoRtt, percentile } from './rtt.mjs';

const { values: opts } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    publishers: { type: 'string', default: '8' },
    'publish-duration': { type: 'string', default: '5' },
  },
});
const CLIENTS = Number(opts.clients);
const DURATION_MS = Number(opts.duration) * 1000;
const PUBLISHERS = Number(opts.publishers);
const PUBLISH_MS = Number(opts['publish-duration']) * 1000;

const fmt = (ms) => `${ms.toFixed(2)} ms`;

const stack = await startStack({
  echo: null,
  notifications: 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n',
});
try {
  console.log(`stack: centrifugo ${stack.centrifugoUrl}, plughost ${stack.hostUrl}`);

  // --- RPC round trips ---------------------------------------------------------------
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => stack.connect(`bench-${i}`)));
  const params = { session_id: 'bench', data: 'bHMgLWxhCg==' };
  // Warm up: every client once, so connections and plugin instances exist.
  await Promise.all(clients.map((c) => c.rpc('echo', params)));

  const { rtts, errors, elapsed } = await measureEchoRtt(clients, params, DURATION_MS);
  console.log(`\nrpc('echo'): ${CLIENTS} clients, sequential calls each, ${elapsed.toFixed(1)} s`);
  console.log(`  calls     ${rtts.length} ok, ${errors} errors`);
  console.log(`  rate      ${(rtts.length / elapsed).toFixed(0)} calls/s`);
  console.log(
    `  rtt       p50 ${fmt(percentile(rtts, 50))}  p90 ${fmt(percentile(rtts, 90))}  p99 ${fmt(percentile(rtts, 99))}  max ${fmt(rtts.at(-1) ?? NaN)}`,
  );

  // --- Publish throughput ------------------------------------------------------------
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
} finally {
  await stack.stop();
}

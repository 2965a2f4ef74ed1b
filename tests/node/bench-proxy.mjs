// Benchmark (not a test): the RPC round-trip benchmark of bench-rtt.mjs, run twice in one
// process through the real Centrifugo: once with its HTTP proxy pointed at plughost's HTTP
// front end, once with its gRPC proxy pointed at the gRPC front end. Prints both side by side.
//
//   node bench-proxy.mjs [--clients 50] [--duration 10] [--rounds 1] [--variants http,grpc]
//
// Variants: `http`, `grpc` (the generated --grpc config, gzip on), `grpc-plain` (the same
// without gRPC compression, to see what gzip costs on small messages).
//
// Each stack runs alone (the other is stopped), so both get the same machine. With
// --rounds N the two alternate N times and every round is printed. Every reply is checked
// (the echo of the params); the last line starts with `bench-proxy: PASS` or
// `bench-proxy: FAIL` (any error, bad reply or failed warm-up call), and FAIL exits 1.

import { parseArgs } from 'node:util';

import { startStack } from './harness.mjs';
import { measureEchoRtt, percentile, warmUp } from './rtt.mjs';

const { values: opts } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'http,grpc' },
  },
});
const CLIENTS = Number(opts.clients);
const DURATION_MS = Number(opts.duration) * 1000;
const ROUNDS = Number(opts.rounds);
const VARIANTS = opts.variants.split(',').map((v) => v.trim()).filter(Boolean);

/** Starts a stack for variant `proxy`, runs the RTT loop, stops it. */
async function run(proxy) {
  if (!['http', 'grpc', 'grpc-plain'].includes(proxy)) throw new Error(`unknown variant ${proxy}`);
  const stack = await startStack(
    { echo: null },
    {
      grpc: proxy.startsWith('grpc'),
      editCentrifugoConfig: (config) => {
        if (proxy === 'grpc-plain') config.rpc.proxy.grpc.compression = false;
      },
    },
  );
  try {
    const endpoint = stack.centrifugoConfig.rpc.proxy.endpoint;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => stack.connect(`bench-${i}`)));
    const params = { session_id: 'bench', data: 'bHMgLWxhCg==' };
    // Warm up: every client a few times, so connections and plugin instances exist.
    const warmFailed = await warmUp(clients, params, 3);

    const { rtts, errors, bad, samples, elapsed } = await measureEchoRtt(clients, params, DURATION_MS);
    for (const s of samples) console.error(`  ${proxy}: ${s}`);
    return {
      proxy,
      endpoint,
      calls: rtts.length,
      errors: errors + bad + warmFailed,
      rate: rtts.length / elapsed,
      p50: percentile(rtts, 50),
      p90: percentile(rtts, 90),
      p99: percentile(rtts, 99),
      max: rtts.at(-1) ?? NaN,
    };
  } finally {
    await stack.stop();
  }
}

const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const proxy of VARIANTS) {
    const r = await run(proxy);
    r.round = round;
    results.push(r);
    console.error(`round ${round} ${proxy}: ${r.rate.toFixed(0)} calls/s (${r.endpoint})`);
  }
}

const ms = (v) => `${v.toFixed(2)} ms`.padStart(10);
console.log(`\nrpc('echo') through Centrifugo: ${CLIENTS} clients, sequential calls each, ${DURATION_MS / 1000} s per run`);
console.log(`${'round'.padEnd(6)}${'proxy'.padEnd(11)}${'calls/s'.padStart(9)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'p99'.padStart(10)}${'max'.padStart(10)}  calls (errors, bad replies and failed warm-up calls)`);
for (const r of results) {
  console.log(
    `${String(r.round).padEnd(6)}${r.proxy.padEnd(11)}${r.rate.toFixed(0).padStart(9)}${ms(r.p50)}${ms(r.p90)}${ms(r.p99)}${ms(r.max)}  ${r.calls} (${r.errors})`,
  );
}
const failed = results.filter((r) => r.errors);
if (failed.length) {
  console.log(`bench-proxy: FAIL: ${failed.map((r) => `round ${r.round} ${r.proxy}: ${r.errors} failed`).join(', ')}`);
  process.exit(1);
}
console.log(`bench-proxy: PASS: ${results.length} runs, every reply checked, 0 errors`);

// The RPC round-trip loop shared by the benchmark scripts (bench-rtt, bench-proxy).

/** The p-th percentile of an ascending array (NaN when empty). */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Every client calls `rpc('echo', params)` one call after another for `durationMs`.
 * Returns the sorted round trips (ms), the error count and the elapsed seconds.
 */
export async function measureEchoRtt(clients, params, durationMs) {
  const rtts = [];
  let errors = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await c.rpc('echo', params);
          rtts.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  rtts.sort((a, b) => a - b);
  return { rtts, errors, elapsed };
}

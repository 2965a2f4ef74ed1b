// The RPC round-trip loop shared by the benchmark scripts (bench-rtt, bench-proxy).

/** The p-th percentile of an ascending array (NaN when empty). */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** True when `reply` (an rpc() result) is the echo plugin's answer to `params`. */
export function isEcho(reply, params) {
  const d = reply?.data;
  return (
    d != null &&
    d.session_id === params.session_id &&
    d.data === params.data &&
    d.echoed === true &&
    Object.keys(d).length === 3
  );
}

/**
 * Every client calls `rpc('echo', params)` one call after another for `durationMs`, and every
 * reply is checked (isEcho). Returns the sorted round trips (ms) of good replies, `errors`
 * (calls that threw: RPC errors, timeouts, disconnects), `bad` (replies that were not the
 * echo), up to three `samples` of what went wrong, and the elapsed seconds.
 */
export async function measureEchoRtt(clients, params, durationMs) {
  const rtts = [];
  let errors = 0;
  let bad = 0;
  const samples = [];
  const sample = (what) => {
    if (samples.length < 3) samples.push(what);
  };
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const reply = await c.rpc('echo', params);
          if (isEcho(reply, params)) {
            rtts.push(performance.now() - t);
          } else {
            bad++;
            sample(`bad reply: ${JSON.stringify(reply?.data)}`);
          }
        } catch (error) {
          errors++;
          sample(`error: ${error?.code ?? ''} ${error?.message ?? JSON.stringify(error)}`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  rtts.sort((a, b) => a - b);
  return { rtts, errors, bad, samples, elapsed };
}

/** Every client calls rpc('echo') `times` times; returns how many calls failed or were not the echo. */
export async function warmUp(clients, params, times = 3) {
  let failed = 0;
  for (let i = 0; i < times; i++) {
    await Promise.all(
      clients.map((c) =>
        c.rpc('echo', params).then(
          (reply) => {
            if (!isEcho(reply, params)) failed++;
          },
          () => failed++,
        ),
      ),
    );
  }
  return failed;
}

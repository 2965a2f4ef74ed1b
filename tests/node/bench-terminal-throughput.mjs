// Terminal output throughput through the real stack: `yes | head -c 50M` in a PTY, read
// by the host's output pump, published to Centrifugo, received by a centrifuge-js
// subscriber. Prints bytes/s reaching the subscriber and publications/s, and counts what
// did not arrive: `yes | head -c NM` writes N MiB of "y\n", which the PTY turns into
// N * 1.5 MiB of "y\r\n"; every missing byte is counted as lost (also from the outputs'
// offsets and gap messages, when the host sends them), as is every failed RPC. Exits 1 with
// a FAIL summary line when anything was lost or failed.
//
// Works against older builds too (PLUGHOST_BIN, TERMINAL_AGENT_BIN: no offsets, no token).
//
// Run: cd tests/node && node bench-terminal-throughput.mjs [MEGABYTES]   (a script, not a test)

import { assembleByOffset, b64, startTerminalStack } from './terminal-stack.mjs';

const megabytes = Number(process.argv[2] ?? 50);
const MARKER = '__BENCH_DONE__';
const TIMEOUT_MS = 300_000;

const stack = await startTerminalStack();
let failed = false;
try {
  const client = await stack.connect('bench');
  const rpcFailures = [];
  const rpc = (method, params) =>
    client.rpc(method, params).catch((error) => {
      rpcFailures.push(`${method}: ${error?.code} ${error?.message ?? JSON.stringify(error)}`);
      return null;
    });
  const created = await rpc('terminal.create', { cols: 120, rows: 40 });
  if (!created) throw new Error(`terminal.create failed: ${rpcFailures.join('; ')}`);
  const id = created.data.session_id;
  const sub = client.newSubscription(`terminal#session#${id}`);
  const chunks = []; // {offset, data} in arrival order
  const gapMessages = [];
  let bytes = 0;
  let publications = 0;
  let first = 0;
  let tail = '';
  let disconnects = 0;
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  client.on('disconnected', () => disconnects++);
  sub.on('publication', (ctx) => {
    if (ctx.data.type === 'gap') gapMessages.push(ctx.data);
    if (ctx.data.type !== 'output') return;
    const chunk = Buffer.from(ctx.data.data, 'base64');
    if (!first) first = performance.now();
    bytes += chunk.length;
    publications++;
    chunks.push({ offset: ctx.data.offset, data: chunk });
    // The marker may be split across publications: keep a short tail.
    tail = (tail + chunk.toString('latin1')).slice(-64);
    if (tail.includes(MARKER)) resolveDone(performance.now());
  });
  await new Promise((resolve, reject) => {
    sub.on('subscribed', resolve);
    sub.on('unsubscribed', reject);
    sub.subscribe();
  });
  // Quoted so the echoed command line does not contain the marker itself.
  const command = `yes | head -c ${megabytes}M; echo __BENCH_""DONE__\n`;
  const started = performance.now();
  await rpc('terminal.input', { session_id: id, data: b64(command) });
  const timeout = setTimeout(() => resolveDone(null), TIMEOUT_MS);
  const ended = await done;
  clearTimeout(timeout);
  const seconds = ((ended ?? performance.now()) - started) / 1000;

  // What arrived, in arrival order: the command's echo (twice, when typed before the prompt
  // is drawn), the shell's mode switches, then "y\r\n"..., then the marker.
  const all = Buffer.concat(chunks.map((c) => c.data));
  const echoText = `head -c ${megabytes}M; echo __BENCH_""DONE__`;
  const markerAt = all.indexOf(MARKER);
  const echo = all.lastIndexOf(echoText, markerAt < 0 ? all.length : markerAt);
  const start = echo < 0 ? -1 : all.indexOf('y\r\n', echo + echoText.length);
  const region = start < 0 ? Buffer.alloc(0) : all.subarray(start, markerAt < 0 ? all.length : markerAt);
  const expected = megabytes * 1024 * 1024 * 1.5; // "y\n" becomes "y\r\n" on the PTY
  const lost = expected - region.length;
  // Intact means exactly "y\r\n" repeated: a byte lost or doubled anywhere breaks the pattern.
  const pattern = Buffer.alloc(3 * 65536, 'y\r\n');
  let intact = region.length % 3 === 0;
  for (let i = 0; intact && i < region.length; i += pattern.length) {
    const n = Math.min(pattern.length, region.length - i);
    intact = region.subarray(i, i + n).equals(pattern.subarray(0, n));
  }
  // With offsets (issue 14's host): holes in the covered range and announced gaps.
  const numbered = chunks.filter((c) => Number.isInteger(c.offset));
  const byOffset = numbered.length ? assembleByOffset(chunks) : null;
  const holeBytes = byOffset ? byOffset.holes.reduce((n, [a, b]) => n + (b - a), 0) : null;
  const announced = gapMessages.reduce((n, g) => n + (Number(g.lost_bytes) || 0), 0);
  const hostGapWarnings = ((await stack.hostLog()).match(/terminal output gap/g) ?? []).length;

  await rpc('terminal.close', { session_id: id });

  const mb = (n) => (n / 1e6).toFixed(1);
  console.log(`yes | head -c ${megabytes}M through agent -> host -> Centrifugo -> centrifuge-js`);
  console.log(`  received     ${mb(bytes)} MB in ${seconds.toFixed(2)} s (all output; ${mb(region.length)} MB of it the yes output)`);
  console.log(`  throughput   ${mb(bytes / seconds)} MB/s`);
  console.log(`  publications ${publications} (${(publications / seconds).toFixed(0)}/s, ${(bytes / Math.max(1, publications) / 1024).toFixed(1)} KiB average)`);
  console.log(`  first byte   ${first ? (first - started).toFixed(1) : '-'} ms after the input RPC was sent`);
  console.log(`  yes output   ${region.length} of ${expected} bytes expected: ${lost} lost (${((100 * lost) / expected).toFixed(2)}%), ${intact ? 'intact' : 'CORRUPTED (a byte lost or doubled inside)'}`);
  console.log(
    `  offsets      ${byOffset ? `${numbered.length} of ${chunks.length} outputs numbered, ${holeBytes} bytes in holes, ${byOffset.duplicates} duplicates` : 'none (an older host)'}`,
  );
  console.log(`  gaps         ${gapMessages.length} gap messages (${announced} bytes), ${hostGapWarnings} host log warnings`);
  console.log(`  failed RPCs  ${rpcFailures.length}${rpcFailures.length ? `: ${rpcFailures.join('; ')}` : ''}`);
  console.log(`  disconnects  ${disconnects} (Centrifugo dropping a slow client)`);
  const problems = [];
  if (ended === null) problems.push(`no marker within ${TIMEOUT_MS / 1000} s`);
  if (lost !== 0) problems.push(`${lost} bytes lost`);
  if (!intact) problems.push('output corrupted');
  if (holeBytes) problems.push(`${holeBytes} bytes missing by offset`);
  if (gapMessages.length || hostGapWarnings) problems.push(`${gapMessages.length + hostGapWarnings} gaps`);
  if (rpcFailures.length) problems.push(`${rpcFailures.length} failed RPCs`);
  if (problems.length) {
    failed = true;
    console.log(`FAIL: ${problems.join(', ')} (${mb(bytes / seconds)} MB/s)`);
  } else {
    console.log(`OK: ${expected} of ${expected} bytes, 0 lost, 0 failed RPCs (${mb(bytes / seconds)} MB/s)`);
  }
} finally {
  await stack.stop();
}
process.exit(failed ? 1 : 0);

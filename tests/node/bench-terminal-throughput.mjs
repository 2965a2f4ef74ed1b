// Terminal output throughput through the real stack: `yes | head -c 50M` in a PTY, read
// by the host's output pump, published to Centrifugo, received by a centrifuge-js
// subscriber. Prints bytes/s reaching the subscriber and publications/s.
//
// Run: cd tests/node && node bench-terminal-throughput.mjs [MEGABYTES]   (a script, not a test)

import { b64, startTerminalStack } from './terminal-stack.mjs';

const megabytes = Number(process.argv[2] ?? 50);
const MARKER = '__BENCH_DONE__';

const stack = await startTerminalStack();
try {
  const client = await stack.connect('bench');
  const { data } = await client.rpc('terminal.create', { cols: 120, rows: 40 });
  const id = data.session_id;
  const sub = client.newSubscription(`terminal#session#${id}`);
  let bytes = 0;
  let publications = 0;
  let first = 0;
  let tail = '';
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  sub.on('publication', (ctx) => {
    if (ctx.data.type !== 'output') return;
    const chunk = Buffer.from(ctx.data.data, 'base64');
    if (!first) first = performance.now();
    bytes += chunk.length;
    publications++;
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
  await client.rpc('terminal.input', { session_id: id, data: b64(command) });
  const timeout = setTimeout(() => resolveDone(null), 300_000);
  const ended = await done;
  clearTimeout(timeout);
  if (ended === null) throw new Error(`no marker after 300 s (${bytes} bytes, ${publications} publications)`);
  const seconds = (ended - started) / 1000;
  const expected = megabytes * 1024 * 1024 * 1.5; // "y\n" becomes "y\r\n" on the PTY
  const gaps = ((await stack.hostLog()).match(/terminal output gap/g) ?? []).length;
  const mb = (n) => (n / 1e6).toFixed(1);
  console.log(`yes | head -c ${megabytes}M through agent -> host -> Centrifugo -> centrifuge-js`);
  console.log(`  received     ${mb(bytes)} MB in ${seconds.toFixed(2)} s (expected about ${mb(expected)} MB of PTY output)`);
  console.log(`  throughput   ${mb(bytes / seconds)} MB/s`);
  console.log(`  publications ${publications} (${(publications / seconds).toFixed(0)}/s, ${(bytes / publications / 1024).toFixed(1)} KiB average)`);
  console.log(`  first byte   ${(first - started).toFixed(1)} ms after the input RPC was sent`);
  console.log(`  gaps         ${gaps} (host warnings: the agent dropped output the pump could not keep up with)`);
  await client.rpc('terminal.close', { session_id: id });
} finally {
  await stack.stop();
}
process.exit(0);

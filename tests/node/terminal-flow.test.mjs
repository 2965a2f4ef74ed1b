// No silent loss, through the real stack: `seq 1 300000` (2.3 MB of PTY output) typed into a
// session reaches a subscriber that is slower than the output, complete and in order: the
// agent stops reading the PTY while the host cannot publish, and what Centrifugo could not
// push to the slow client comes back by recovery. Checked byte for byte against what
// `seq` prints, and by the `offset` of every output publication.
//
// Needs target/release/{plughost,terminal-agent} (issue 14's), .tools/bin/centrifugo and
// plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { assembleByOffset, b64, checkSeqOutput, followSession, seqOutput, startTerminalStack } from './terminal-stack.mjs';

const LINES = 300_000;

/**
 * Runs `seq 1 LINES` in a new session of `client`'s user, read by a subscriber that blocks
 * `slowMs` per publication, and checks every byte arrived once, in order. Returns counts.
 */
async function seqToSlowSubscriber(client, slowMs) {
  const { data } = await client.rpc('terminal.create', { cols: 120, rows: 40 });
  const id = data.session_id;
  const disconnects = [];
  // A reconnectable disconnect (Centrifugo's 3008 "slow") shows as `connecting` again.
  const onDisconnect = (ctx) => disconnects.push(`${ctx.code} ${ctx.reason}`);
  client.on('connecting', onDisconnect);
  const { reader, sub } = await followSession(client, id, { slowMs });
  const resubscribes = [];
  sub.on('subscribed', (ctx) => resubscribes.push({ wasRecovering: ctx.wasRecovering, recovered: ctx.recovered }));
  await client.rpc('terminal.input', { session_id: id, data: b64(`seq 1 ${LINES}; echo __DO""NE__\n`) }).catch((error) => {
    throw new Error(`terminal.input: ${JSON.stringify(error)}`);
  });
  await reader.waitFor(/[\r\n]__DONE__\r\n/, 150_000);
  client.removeListener('connecting', onDisconnect);

  // In arrival order: every output continues exactly where the one before ended.
  const jumps = [];
  let at = reader.outputs[0].offset;
  for (const { offset, data: chunk } of reader.outputs) {
    if (offset !== at) jumps.push([at, offset]);
    at = Math.max(at, offset + chunk.length);
  }
  assert.deepEqual(jumps, [], 'outputs arrived in offset order, without holes or repeats');
  assert.deepEqual(reader.gaps, [], 'no gap was announced');

  // Put together by offset: one run of bytes, holding seq's output exactly.
  const whole = assembleByOffset(reader.outputs);
  assert.equal(whole.unnumbered, 0, 'every output carries its offset');
  assert.deepEqual(whole.holes, [], 'no byte offset is missing');
  assert.equal(whole.conflicts, 0);
  assert.equal(checkSeqOutput(whole.bytes, LINES), null);
  // The same in the order the subscriber saw it (what a terminal would show).
  assert.equal(checkSeqOutput(Buffer.from(reader.text, 'latin1'), LINES), null);
  const expected = seqOutput(LINES);
  const start = /[\r\n]1\r\n2\r\n/.exec(whole.bytes.toString('latin1')).index + 1;
  const digest = (bytes) => createHash('sha256').update(bytes).digest('hex');
  assert.equal(digest(whole.bytes.subarray(start, start + expected.length)), digest(expected), 'sha-256 of the received sequence');
  assert.ok(resubscribes.every((r) => !r.wasRecovering || r.recovered), `every resubscribe recovered: ${JSON.stringify(resubscribes)}`);
  // The client may be reconnecting right now (dropped as slow): retry a call the closing
  // connection cut off.
  for (let attempt = 0; ; attempt++) {
    try {
      await client.rpc('terminal.close', { session_id: id });
      break;
    } catch (error) {
      if (error?.code !== 11 || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { bytes: reader.bytes, publications: reader.outputs.length, disconnects, resubscribes: resubscribes.length };
}

describe('terminal output is never silently lost', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startTerminalStack();
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  test(`seq 1 ${LINES} reaches a slow subscriber complete and in order`, async (t) => {
    // 20 ms of blocked event loop per publication: slower than the output.
    const seen = await seqToSlowSubscriber(alice, 20);
    t.diagnostic(JSON.stringify(seen));
  });
});

describe('terminal output is never silently lost, even when Centrifugo drops a slow client', () => {
  let stack;
  let bob;

  before(async () => {
    // A 64 KiB per-client queue (Centrifugo's default is 1 MiB): a subscriber that does not
    // keep up is disconnected as slow, and must get what it missed back by recovery.
    stack = await startTerminalStack({
      editCentrifugoConfig: (config) => {
        config.client = { ...(config.client ?? {}), queue_max_size: 65536 };
      },
    });
    bob = await stack.connect('bob');
  });
  after(async () => {
    await stack?.stop();
  });

  test(`seq 1 ${LINES} reaches a subscriber Centrifugo disconnects as slow, complete and in order`, async (t) => {
    const seen = await seqToSlowSubscriber(bob, 50);
    t.diagnostic(JSON.stringify(seen));
    assert.ok(seen.disconnects.length > 0, 'Centrifugo disconnected the slow client (else this test proves nothing more than the first)');
    assert.ok(seen.resubscribes > 0, 'the subscription was recovered after the disconnect');
  });
});

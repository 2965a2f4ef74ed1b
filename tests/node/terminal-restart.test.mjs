// Restarts through the real stack, each while a session is open:
// - the host (graceful SIGTERM, started again with the same config): it closes its sessions at
//   the agent, subscribers get status "closed", and the old id answers 1004 afterwards;
// - the agent (graceful, and killed): status "closed" is published and input answers 1004
//   within a bounded time, never hangs; the user's sessions no longer count against the cap;
// - Centrifugo, while the session prints a numbered line every 50 ms: what the subscriber got
//   before the restart and the channel's history after it cover every byte offset: the host's
//   output pump waited for Centrifugo and lost nothing.
//
// Needs target/release/{plughost,terminal-agent} (issue 14's), .tools/bin/centrifugo and
// plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { sleep, withTimeout } from './harness.mjs';
import {
  agentCall,
  assembleByOffset,
  b64,
  followSession,
  outputLines,
  protoStrings,
  rpcError,
  startTerminalStack,
} from './terminal-stack.mjs';

const NOT_FOUND = 5;

describe('the terminal across restarts', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startTerminalStack();
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  async function openSession() {
    const { data } = await alice.rpc('terminal.create', {});
    const id = data.session_id;
    const { reader } = await followSession(alice, id);
    await alice.rpc('terminal.input', { session_id: id, data: b64('echo al""ive\n') });
    await reader.waitFor(/[\r\n]alive\r\n/);
    return { id, reader };
  }

  /** The input call on `id` fails with `code` within `ms` (a hang fails the test). */
  async function inputRefused(id, codes, ms = 10_000) {
    const error = await withTimeout(rpcError(alice.rpc('terminal.input', { session_id: id, data: b64('x') })), ms, 'terminal.input');
    assert.ok([codes].flat().includes(error.code), `expected ${codes}, got ${JSON.stringify(error)}`);
    return error;
  }

  test('a host restart closes its sessions at the agent: status closed, then 1004', async () => {
    const { id, reader } = await openSession();
    const exited = await stack.restartHost();
    assert.deepEqual(exited, { code: 0, signal: null }, 'the host shut down cleanly within its grace');
    await reader.waitStatus('closed', 10_000);
    assert.deepEqual(reader.statuses.at(-1), { type: 'status', status: 'closed' });
    await inputRefused(id, 1004);
    // Closed at the agent, not only forgotten by the host.
    const got = await agentCall(stack, 'Get', { body: protoStrings({ 1: id }), token: stack.agentToken });
    assert.equal(got.status, NOT_FOUND, JSON.stringify(got));
  });

  test('an agent restart: open sessions get status closed, input answers 1004 at once, new sessions work', async () => {
    const { id, reader } = await openSession();
    // Three more: alice holds her 4 (the default per-user cap).
    const others = [];
    for (let i = 0; i < 3; i++) others.push((await alice.rpc('terminal.create', {})).data.session_id);
    await stack.restartAgent();
    await reader.waitStatus('closed', 10_000);
    assert.deepEqual(reader.statuses.at(-1), { type: 'status', status: 'closed' });
    await inputRefused(id, 1004);
    for (const other of others) await inputRefused(other, 1004);
    // The closed sessions no longer count: alice can open new ones.
    const fresh = await openSession();
    await alice.rpc('terminal.close', { session_id: fresh.id });
  });

  test('an agent killed and started again: status closed and 1004, no hang', async () => {
    const { id, reader } = await openSession();
    await stack.stopAgent({ kill: true });
    // While it is down: a prompt temporary error (or not-found), not a hang.
    await inputRefused(id, [1008, 1004]);
    await sleep(500);
    await stack.startAgent();
    await reader.waitStatus('closed', 15_000);
    await inputRefused(id, 1004);
    const fresh = await openSession();
    await alice.rpc('terminal.close', { session_id: fresh.id });
  });

  test('a Centrifugo restart loses no output: before + history after cover every byte offset', async (t) => {
    const LINES = 90;
    const { data } = await alice.rpc('terminal.create', { cols: 120, rows: 40 });
    const id = data.session_id;
    const channel = `terminal#session#${id}`;
    const { reader } = await followSession(alice, id);
    await alice.rpc('terminal.input', {
      session_id: id,
      data: b64(`for i in $(seq 1 ${LINES}); do echo line-$i; sleep 0.05; done; echo __DO""NE__\n`),
    });
    await reader.waitFor(/[\r\n]line-15\r\n/);
    await stack.stopCentrifugo();
    // Everything the subscriber got from the old Centrifugo (it is gone now).
    const before = reader.outputs.slice();
    await sleep(1000); // ~20 lines while nobody can publish
    await stack.startCentrifugo();

    // After it is back, the channel's history (the new Centrifugo's) ends with the marker.
    let after = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const history = await stack.api('history', { channel, limit: 1000 }).catch(() => ({ publications: [] }));
      after = (history.publications ?? []).map((p) => p.data).filter((d) => d.type === 'output');
      if (after.some((d) => Buffer.from(d.data, 'base64').toString('latin1').includes('__DONE__'))) break;
      await sleep(200);
    }
    const afterChunks = after.map((d) => ({ offset: d.offset, data: Buffer.from(d.data, 'base64') }));
    assert.ok(afterChunks.length, 'the pump published after Centrifugo came back');
    const whole = assembleByOffset([...before, ...afterChunks]);
    const beforeEnd = Math.max(...before.map((c) => c.offset + c.data.length));
    t.diagnostic(`before the restart: ${before.length} outputs, offsets ${before[0]?.offset}..${beforeEnd}; history after it: ${afterChunks.length} outputs from offset ${afterChunks[0].offset}`);
    assert.equal(whole.unnumbered, 0, 'every output carries its offset');
    assert.deepEqual(whole.holes, [], 'no byte offset is missing between before and after');
    assert.equal(whole.conflicts, 0);
    const text = whole.bytes.toString('latin1');
    assert.ok(text.includes('__DONE__'), 'the output runs to the end');
    const numbered = outputLines(text).filter((l) => /^line-\d+$/.test(l)).map((l) => Number(l.slice(5)));
    assert.deepEqual(numbered, Array.from({ length: LINES }, (_, i) => i + 1), 'every line once, in order');
    // The outage really fell inside the output: the end came only after the restart.
    const beforeText = Buffer.concat(before.map((c) => c.data)).toString('latin1');
    assert.ok(beforeText.includes('line-15\r\n') && !beforeText.includes(`line-${LINES}\r\n`), 'the restart happened mid-output');
    await alice.rpc('terminal.close', { session_id: id });
  });
});

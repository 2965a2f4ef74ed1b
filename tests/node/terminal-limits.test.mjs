// The terminal's limits through the real stack, each with its documented code: sessions per
// user (1009) and on the agent (1009), input size (1007) and rate (1009, temporary), and
// sessions nobody watches or calls closed after `idle_close` (then 1004).
//
// Needs target/release/{plughost,terminal-agent} (issue 14's), .tools/bin/centrifugo and
// plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { sleep } from './harness.mjs';
import { b64, followSession, rpcError, startTerminalStack, terminalManifest } from './terminal-stack.mjs';

const MAX_INPUT = 4096;
const INPUT_RATE = 16 * 1024;

describe('terminal limits', () => {
  let stack;
  const clients = {};

  before(async () => {
    // Default max_sessions_per_user (4); a small input cap and rate; an agent for 6 sessions.
    const manifest = terminalManifest({ max_input: '4KiB', input_rate: '16KiB' });
    stack = await startTerminalStack({ manifest, agentArgs: ['--max-sessions', '6'] });
    for (const user of ['carol', 'dave', 'erin']) clients[user] = await stack.connect(user);
  });
  after(async () => {
    await stack?.stop();
  });

  const create = async (user) => (await clients[user].rpc('terminal.create', {})).data.session_id;
  const close = (user, id) => clients[user].rpc('terminal.close', { session_id: id });

  test("a user's 5th session is refused (1009) while others can still open theirs, up to the agent's cap (1009)", async () => {
    const carol = [];
    for (let i = 0; i < 4; i++) carol.push(await create('carol'));
    const fifth = await rpcError(clients.carol.rpc('terminal.create', {}));
    assert.equal(fifth.code, 1009, JSON.stringify(fifth));

    const dave = [await create('dave'), await create('dave')];
    // 6 sessions on an agent started with --max-sessions 6: erin is refused by the agent.
    const full = await rpcError(clients.erin.rpc('terminal.create', {}));
    assert.equal(full.code, 1009, JSON.stringify(full));

    // Closing one frees a place for its owner (and the agent's place with it).
    await close('carol', carol.pop());
    carol.push(await create('carol'));
    await close('dave', dave.pop());
    const erin = await create('erin');
    for (const id of carol) await close('carol', id);
    for (const id of dave) await close('dave', id);
    await close('erin', erin);
  });

  test('an input above max_input is refused (1007); one of exactly max_input is written', async () => {
    const id = await create('carol');
    const { reader } = await followSession(clients.carol, id);
    await clients.carol.rpc('terminal.input', { session_id: id, data: b64('stty -echo; cat > /dev/null\n') });
    await reader.waitFor('cat > /dev/null');
    const line = (n) => `${'x'.repeat(n - 1)}\n`;
    const ok = await clients.carol.rpc('terminal.input', { session_id: id, data: b64(line(MAX_INPUT)) });
    assert.equal(ok.data.success, true);
    const big = await rpcError(clients.carol.rpc('terminal.input', { session_id: id, data: b64(line(MAX_INPUT + 1)) }));
    assert.equal(big.code, 1007, JSON.stringify(big));
    await close('carol', id);
  });

  test('input above input_rate is refused (1009, temporary) and accepted again a second later', async () => {
    const id = await create('dave');
    const { reader } = await followSession(clients.dave, id);
    await clients.dave.rpc('terminal.input', { session_id: id, data: b64('stty -echo; cat > /dev/null\n') });
    await reader.waitFor('cat > /dev/null');
    await sleep(1100); // a full bucket
    const chunk = b64(`${'y'.repeat(1023)}\n`.repeat(4)); // 4 KiB
    const outcomes = [];
    for (let i = 0; i < 8; i++) {
      // 32 KiB within a few milliseconds: twice the bucket.
      outcomes.push(await clients.dave.rpc('terminal.input', { session_id: id, data: chunk }).then(() => 'ok', (e) => e));
    }
    assert.equal(outcomes[0], 'ok');
    const accepted = outcomes.filter((o) => o === 'ok').length;
    assert.ok(accepted >= 3 && accepted <= 5, `${accepted} of 8 inputs of 4 KiB accepted at 16 KiB/s: ${JSON.stringify(outcomes)}`);
    for (const refused of outcomes.filter((o) => o !== 'ok')) {
      assert.equal(refused.code, 1009, JSON.stringify(refused));
      assert.equal(refused.temporary, true, `1009 is temporary: ${JSON.stringify(refused)}`);
    }
    await sleep(1100);
    const again = await clients.dave.rpc('terminal.input', { session_id: id, data: chunk });
    assert.equal(again.data.success, true);
    await close('dave', id);
  });
});

describe('idle close', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startTerminalStack({ manifest: terminalManifest({ idle_close: '2s' }) });
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  test('a session nobody watches or calls is closed after idle_close (then 1004); watched or called ones stay', async () => {
    const create = async () => (await alice.rpc('terminal.create', {})).data.session_id;
    const [idle, watched, called] = [await create(), await create(), await create()];
    const { reader } = await followSession(alice, watched);
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 5000) {
      await alice.rpc('terminal.input', { session_id: called, data: b64(':\n') });
      calls++;
      await sleep(600);
    }
    // The idle one was closed (its channel says so) and is gone for its owner.
    const history = await stack.api('history', { channel: `terminal#session#${idle}`, limit: 100 });
    assert.deepEqual(
      history.publications.map((p) => p.data).filter((d) => d.type === 'status').at(-1),
      { type: 'status', status: 'closed' },
      'the idle session published status closed',
    );
    const gone = await rpcError(alice.rpc('terminal.input', { session_id: idle, data: b64('x') }));
    assert.equal(gone.code, 1004, JSON.stringify(gone));

    // The watched one and the called one still run.
    assert.deepEqual(reader.statuses, [], 'the watched session was closed');
    await alice.rpc('terminal.input', { session_id: watched, data: b64('echo watched-alive\n') });
    await reader.waitFor(/[\r\n]watched-alive\r\n/);
    const calledReply = await alice.rpc('terminal.input', { session_id: called, data: b64('echo called-alive\n') });
    assert.equal(calledReply.data.success, true, `after ${calls} calls`);
    for (const id of [watched, called]) await alice.rpc('terminal.close', { session_id: id });
  });
});

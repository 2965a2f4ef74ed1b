// End-to-end: the seed's terminal through the real stack. centrifuge-js -> Centrifugo ->
// plughost -> the terminal plugin -> gRPC -> terminal-agent (a real PTY) -> host output
// pump -> Centrifugo channel terminal#session#<id> -> centrifuge-js.
//
// Needs target/release/{plughost,terminal-agent}, .tools/bin/centrifugo and plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { b64, followSession, rpcError, startTerminalStack } from './terminal-stack.mjs';

describe('the seed terminal through the real stack', () => {
  let stack;
  let alice;
  let bob;

  before(async () => {
    stack = await startTerminalStack();
    [alice, bob] = await Promise.all([stack.connect('alice'), stack.connect('bob')]);
  });
  after(async () => {
    await stack?.stop();
  });

  async function createSession(client = alice, params = {}) {
    const { data } = await client.rpc('terminal.create', params);
    assert.match(data.session_id, /^[0-9a-f]{32}$/);
    return data.session_id;
  }

  test('create, echo, resize, close: output and status arrive on the channel', async () => {
    const id = await createSession(alice, { cols: 80, rows: 24 });
    const { reader, subscribed } = await followSession(alice, id);
    // The namespace forces recovery, so a reconnecting page gets what it missed.
    assert.equal(subscribed.recoverable, true, `subscription not recoverable: ${JSON.stringify(subscribed)}`);

    const reply = await alice.rpc('terminal.input', { session_id: id, data: b64('echo hello\n') });
    assert.deepEqual(reply.data, { success: true, message: 'Input sent' });
    // The echoed command line also contains "hello"; the output line is "hello" alone
    // (after bash's bracketed-paste switch, which ends in a carriage return).
    await reader.waitFor(/[\r\n]hello\r\n/);

    const output = reader.publications.find((p) => p.data.type === 'output').data;
    assert.deepEqual(Object.keys(output).sort(), ['data', 'offset', 'timestamp', 'type']);
    assert.match(output.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // `offset` is the byte offset of the data in the session's output: consecutive outputs
    // continue exactly where the one before ended.
    const history0 = await stack.api('history', { channel: `terminal#session#${id}`, limit: 100 });
    const outputs = history0.publications.filter((p) => p.data.type === 'output').map((p) => p.data);
    assert.equal(outputs[0].offset, 0, 'the first output starts at offset 0');
    for (let i = 1; i < outputs.length; i++) {
      assert.equal(outputs[i].offset, outputs[i - 1].offset + Buffer.from(outputs[i - 1].data, 'base64').length, `output ${i} continues the one before`);
    }

    // The first status and prompt were published before we subscribed: they are in history.
    const history = await stack.api('history', { channel: `terminal#session#${id}`, limit: 100 });
    assert.deepEqual(history.publications[0].data, { type: 'status', status: 'running' });

    const resized = await alice.rpc('terminal.resize', { session_id: id, cols: 100, rows: 30 });
    assert.deepEqual(resized.data, { success: true, message: 'Terminal resized' });
    await alice.rpc('terminal.input', { session_id: id, data: b64('stty size\n') });
    await reader.waitFor(/[\r\n]30 100\r\n/);

    const closed = await alice.rpc('terminal.close', { session_id: id });
    assert.deepEqual(closed.data, { success: true, message: 'Session closed' });
    await reader.waitStatus('closed');
    assert.deepEqual(reader.statuses.at(-1), { type: 'status', status: 'closed' });

    // The session is gone for good.
    const gone = await rpcError(alice.rpc('terminal.input', { session_id: id, data: b64('x') }));
    assert.equal(gone.code, 1004, gone.message);
  });

  test('a shell that exits by itself reports its exit code', async () => {
    const id = await createSession();
    const { reader } = await followSession(alice, id);
    await alice.rpc('terminal.input', { session_id: id, data: b64('exit 3\n') });
    await reader.waitStatus('exited');
    assert.deepEqual(reader.statuses.at(-1), { type: 'status', status: 'exited', exit_code: 3 });
  });

  test("another user can neither write to, resize, close nor follow a user's session", async () => {
    const id = await createSession(alice);
    const { reader } = await followSession(alice, id);

    for (const [method, params] of [
      ['terminal.input', { session_id: id, data: b64('echo pwned > /tmp/x\n') }],
      ['terminal.resize', { session_id: id, cols: 10, rows: 10 }],
      ['terminal.close', { session_id: id }],
    ]) {
      const error = await rpcError(bob.rpc(method, params));
      assert.equal(error.code, 1003, `${method}: ${JSON.stringify(error)}`);
      assert.match(error.message, /permission denied/);
    }
    const refused = await followSession(bob, id).then(
      () => assert.fail('bob subscribed to alice\'s session'),
      (error) => error,
    );
    assert.equal(refused.code, 103, `unexpected refusal: ${refused.message}`);
    assert.match(refused.reason, /permission denied/);

    // Alice's session is untouched: still running, still hers.
    await alice.rpc('terminal.input', { session_id: id, data: b64('echo still-mine\n') });
    await reader.waitFor(/[\r\n]still-mine\r\n/);
    assert.ok(!reader.text.includes('pwned'), 'bob\'s input reached the session');
    await alice.rpc('terminal.close', { session_id: id });
  });

  test('anonymous connections cannot open a terminal', async () => {
    const { json } = await stack.post('/centrifugo/rpc', {
      client: 'c-anon', transport: 'websocket', protocol: 'json', encoding: 'json',
      user: '', method: 'terminal.create', data: {},
    });
    assert.equal(json.error?.code, 1003, JSON.stringify(json));
  });

  test('clients cannot choose the program unless the operator allowed it', async () => {
    const error = await rpcError(alice.rpc('terminal.create', { command: 'sh' }));
    assert.equal(error.code, 1003, JSON.stringify(error));
  });

  test('bad session ids and params are refused with the seed codes', async () => {
    const unknown = await rpcError(alice.rpc('terminal.input', { session_id: '0'.repeat(32), data: b64('x') }));
    assert.equal(unknown.code, 1004, JSON.stringify(unknown));
    const malformed = await rpcError(alice.rpc('terminal.input', { session_id: 'a#b', data: b64('x') }));
    assert.equal(malformed.code, 103, JSON.stringify(malformed));
    const notBase64 = await rpcError(alice.rpc('terminal.input', { session_id: '0'.repeat(32), data: '***' }));
    assert.equal(notBase64.code, 103, JSON.stringify(notBase64));
    const tooBig = await rpcError(alice.rpc('terminal.create', { cols: 0 }));
    assert.equal(tooBig.code, 103, JSON.stringify(tooBig));
  });

  test('busy output is coalesced into few publications, in order', async () => {
    const id = await createSession();
    const { reader } = await followSession(alice, id);
    await alice.rpc('terminal.input', { session_id: id, data: b64('seq 1 30000; echo __DO""NE__\n') });
    await reader.waitFor('__DONE__', 20_000);
    const numbers = reader
      .lines()
      .filter((line) => /^\d+$/.test(line))
      .map(Number);
    assert.equal(numbers.length, 30000, 'every line arrived once');
    assert.ok(numbers.every((n, i) => n === i + 1), 'lines arrived in order');
    // ~190 KB in 30000 lines: one publish per line (or per byte) would be far more.
    const outputs = reader.publications.filter((p) => p.data.type === 'output').length;
    assert.ok(outputs < 150, `${outputs} publications for ${reader.bytes} bytes`);
    await alice.rpc('terminal.close', { session_id: id });
  });
});

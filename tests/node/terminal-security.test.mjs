// The terminal agent's walls, through the real stack: it answers only callers that present
// its token (checked with a raw gRPC client over node:http2, no gRPC library), listens on a
// Unix socket only its user may open, refuses a public address without a token, and runs only
// the programs both the manifest's [terminal] commands and its own --allow-command list.
//
// Needs target/release/{plughost,terminal-agent} (issue 14's), .tools/bin/centrifugo and
// plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';

import { freePort, Proc, sleep, TERMINAL_AGENT_BIN, terminalAgentFeatures } from './harness.mjs';
import {
  agentCall,
  b64,
  followSession,
  protoStrings,
  rpcError,
  startTerminalStack,
  terminalManifest,
} from './terminal-stack.mjs';

const UNAUTHENTICATED = 16;
const NOT_FOUND = 5;

/** The string and varint fields of a protobuf message inside a gRPC frame: {number: value}. */
function decodeFrame(frame) {
  const fields = {};
  const buf = frame.subarray(5, 5 + frame.readUInt32BE(1));
  let i = 0;
  const varint = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const [number, wire] = [Math.floor(tag / 8), tag & 7];
    if (wire === 0) fields[number] = varint();
    else if (wire === 2) {
      const len = varint();
      fields[number] = buf.subarray(i, i + len).toString();
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

/** Fails (never skips) with what to do when the agent predates tokens. */
async function requireTokenAgent() {
  const features = await terminalAgentFeatures();
  assert.ok(features.token, `${TERMINAL_AGENT_BIN} has no --token-file: build issue 14's agent (cargo build --release -p terminal-agent)`);
}

describe('the terminal agent answers only the host', () => {
  let stack;
  let alice;

  before(async () => {
    await requireTokenAgent();
    stack = await startTerminalStack();
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  test('the agent listens on a Unix socket (0600) with its token in a 0600 file, and the host reaches it', async () => {
    const socket = await stat(stack.agentSocket);
    assert.ok(socket.isSocket(), `${stack.agentSocket} is a socket`);
    assert.equal(socket.mode & 0o777, 0o600, `socket mode ${(socket.mode & 0o777).toString(8)}`);
    assert.equal((await stat(stack.agentTokenFile)).mode & 0o777, 0o600);
    const { data } = await alice.rpc('terminal.create', {});
    assert.match(data.session_id, /^[0-9a-f]{32}$/);
    await alice.rpc('terminal.close', { session_id: data.session_id });
  });

  test('a gRPC call to the agent without the token, or with a wrong one, gets UNAUTHENTICATED and does nothing', async () => {
    const { data } = await alice.rpc('terminal.create', {});
    const id = data.session_id;
    const { reader } = await followSession(alice, id);
    const token = stack.agentToken;
    const flipped = token.slice(0, -1) + (token.at(-1) === 'A' ? 'B' : 'A');
    const attempts = {
      'no authorization': {},
      'a wrong token of the same length': { token: flipped },
      'a prefix of the token': { token: token.slice(0, 16) },
      'the token plus a byte': { token: `${token}x` },
      'an empty bearer': { authorization: 'Bearer ' },
      'the token without "Bearer"': { authorization: token },
      'another scheme': { authorization: `Basic ${token}` },
    };
    const calls = {
      Create: protoStrings({}),
      Get: protoStrings({ 1: id }),
      Input: Buffer.concat([protoStrings({ 1: id }), protoStrings({ 2: 'echo pwned-by-raw-grpc\n' })]),
      Resize: protoStrings({ 1: id }),
      Subscribe: protoStrings({ 1: id }),
      Close: protoStrings({ 1: id }),
    };
    for (const [what, auth] of Object.entries(attempts)) {
      for (const [method, body] of Object.entries(calls)) {
        const reply = await agentCall(stack, method, { body, ...auth });
        assert.equal(reply.status, UNAUTHENTICATED, `${method} with ${what}: ${JSON.stringify(reply)}`);
        assert.equal(reply.data.length, 0, `${method} with ${what} answered a message`);
        assert.ok(!reply.message.includes(token.slice(0, 16)), `${method}: the message echoes a token: ${reply.message}`);
        if (auth.token && auth.token.length >= 8) {
          assert.ok(!reply.message.includes(auth.token), `${method}: the message echoes the presented value`);
        }
      }
    }

    // The same raw client with the right token is answered: the refusals above were the token's.
    const got = await agentCall(stack, 'Get', { body: protoStrings({ 1: id }), token });
    assert.equal(got.status, 0, JSON.stringify(got));
    const info = decodeFrame(got.data);
    assert.equal(info[1], id);
    assert.equal(info[2], 'alice', 'the session is still alice\'s');
    assert.equal((await agentCall(stack, 'Get', { body: protoStrings({ 1: '0'.repeat(32) }), token })).status, NOT_FOUND);

    // Nothing the refused calls asked for happened: the session runs, untouched.
    await alice.rpc('terminal.input', { session_id: id, data: b64('echo still-fine\n') });
    await reader.waitFor(/[\r\n]still-fine\r\n/);
    assert.ok(!reader.text.includes('pwned-by-raw-grpc'), 'an unauthenticated Input reached the PTY');
    // `running` is the session's start, which may reach the reader late; an end is `exited` or `closed`.
    assert.deepEqual(reader.statuses.filter((s) => s.status !== 'running'), [], 'an unauthenticated Close ended the session');
    await alice.rpc('terminal.close', { session_id: id });
  });

  test('on TCP the token is required too, and a non-loopback address without one is refused at start', async () => {
    // A second agent on loopback TCP with the same token file.
    const port = await freePort();
    const agent = new Proc('terminal-agent-tcp', TERMINAL_AGENT_BIN, ['--listen', `127.0.0.1:${port}`, '--token-file', stack.agentTokenFile], {
      cwd: stack.dir,
      logFile: `${stack.dir}/terminal-agent-tcp.log`,
    });
    try {
      const tcp = { terminalPort: port };
      let reply;
      for (let i = 0; i < 100 && !reply; i++) {
        reply = await agentCall(tcp, 'Get', { body: protoStrings({ 1: 'x' }) }).catch(() => sleep(50).then(() => undefined));
      }
      assert.equal(reply?.status, UNAUTHENTICATED, `${JSON.stringify(reply)}\n${agent.describe()}`);
      assert.equal((await agentCall(tcp, 'Get', { body: protoStrings({ 1: 'x' }), token: stack.agentToken })).status, NOT_FOUND);
    } finally {
      await agent.stop();
    }

    // 0.0.0.0 without a token: the agent must not start (no PLUGHOST_TERMINAL_TOKEN either).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PLUGHOST_') && !k.startsWith('TERMINAL_AGENT_')));
    const outcome = await new Promise((resolve) => {
      execFile(TERMINAL_AGENT_BIN, ['--listen', '0.0.0.0:0'], { env, timeout: 5000 }, (error, stdout, stderr) =>
        resolve({ code: error?.code, killed: error?.killed, signal: error?.signal, output: `${stdout}${stderr}` }),
      );
    });
    assert.ok(!outcome.killed && outcome.signal == null, `the agent kept running on 0.0.0.0 without a token: ${JSON.stringify(outcome)}`);
    assert.notEqual(outcome.code, undefined, 'the agent exited with status 0');
    assert.match(outcome.output, /token/i, 'the refusal says why');
  });

  test('session ids are never logged in full (host and agent logs)', async () => {
    const { data } = await alice.rpc('terminal.create', {});
    const id = data.session_id;
    const { reader } = await followSession(alice, id);
    await alice.rpc('terminal.input', { session_id: id, data: b64('echo logged\n'), seq: 1 });
    await reader.waitFor(/[\r\n]logged\r\n/);
    await alice.rpc('terminal.resize', { session_id: id, cols: 90, rows: 30 });
    await alice.rpc('terminal.close', { session_id: id });
    await reader.waitStatus('closed');
    await sleep(300); // let the processes' log lines reach their files
    for (const [name, file] of [['plughost', stack.host.logFile], ['terminal-agent', stack.agent.logFile]]) {
      const log = await readFile(file, 'utf8');
      assert.ok(log.includes(id.slice(0, 8)), `${name}'s log names the session (shortened)`);
      const lines = log.split('\n').filter((line) => line.includes(id));
      assert.deepEqual(lines, [], `${name} logged a full session id`);
    }
  });

  test('with the default manifest, clients get only the default shell', async () => {
    for (const command of ['/bin/sh', 'sh', '/bin/bash']) {
      const error = await rpcError(alice.rpc('terminal.create', { command }));
      assert.equal(error.code, 1003, `${command}: ${JSON.stringify(error)}`);
    }
  });
});

describe('the programs a session may run: the manifest and the agent both decide', () => {
  let stack;
  let alice;

  before(async () => {
    await requireTokenAgent();
    // Each wall lets through what the other refuses: /usr/bin/yes only the agent allows (so
    // the host must refuse it), /bin/true only the manifest lists (so the agent must).
    const manifest = terminalManifest({ commands: ['/bin/sh', '/bin/true'] });
    stack = await startTerminalStack({ manifest, agentArgs: ['--allow-command', '/bin/sh,/usr/bin/yes'] });
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  test('a program listed in the manifest and allowed by the agent runs', async () => {
    const { data } = await alice.rpc('terminal.create', { command: '/bin/sh' });
    const got = await agentCall(stack, 'Get', { body: protoStrings({ 1: data.session_id }), token: stack.agentToken });
    assert.equal(got.status, 0, JSON.stringify(got));
    assert.equal(decodeFrame(got.data)[3], '/bin/sh', 'the agent runs /bin/sh');
    const { reader } = await followSession(alice, data.session_id);
    await alice.rpc('terminal.input', { session_id: data.session_id, data: b64('echo "sh:$0"\n') });
    // (dash draws no line editor: its output may follow its prompt on the same line)
    await reader.waitFor('sh:/bin/sh\r\n');
    await alice.rpc('terminal.close', { session_id: data.session_id });
    // The default shell still works alongside.
    const shell = await alice.rpc('terminal.create', {});
    await alice.rpc('terminal.close', { session_id: shell.data.session_id });
  });

  test('the host refuses a program its manifest does not list, even one the agent allows', async () => {
    const error = await rpcError(alice.rpc('terminal.create', { command: '/usr/bin/yes' }));
    assert.equal(error.code, 1003, JSON.stringify(error));
  });

  test('the agent refuses a program the manifest lists but its --allow-command does not (the second wall)', async () => {
    const error = await rpcError(alice.rpc('terminal.create', { command: '/bin/true' }));
    assert.equal(error.code, 1003, JSON.stringify(error));
  });
});

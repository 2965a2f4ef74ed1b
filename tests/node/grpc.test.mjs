// End-to-end over gRPC: the real Centrifugo calls plughost's gRPC proxy front end
// (`centrifugo-config --grpc`), and plughost publishes through Centrifugo's gRPC server API
// (`api = "grpc"`). Same plugins, same answers and error codes as over HTTP.
//
// Run: cd tests/node && node --test grpc.test.mjs (needs the same binaries and plugins as
// centrifugo.test.mjs; anything missing fails the run).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';

import { CENTRIFUGO_BIN, requireBinaries, startStack } from './harness.mjs';
import { broadcastReachesEverySubscriber } from './checks.mjs';

const execFileP = promisify(execFile);

const NOTIFICATIONS_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n';

/** Awaits `promise`, which must reject; returns the rejection and how long it took (ms). */
async function rejection(promise) {
  const started = performance.now();
  try {
    const value = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return { error, ms: performance.now() - started };
  }
}

requireBinaries();

describe('Centrifugo -> plughost over the gRPC proxy', () => {
  let stack;
  let alice; // user 42
  let bob; // user 43

  before(async () => {
    stack = await startStack(
      { echo: null, whoami: null, notifications: NOTIFICATIONS_MANIFEST },
      { grpc: true },
    );
    [alice, bob] = await Promise.all([stack.connect('42'), stack.connect('43')]);
  });
  after(async () => {
    await stack?.stop();
  });

  test('the generated config points both proxies at grpc:// with the secret as credentials', () => {
    for (const proxy of [stack.centrifugoConfig.rpc.proxy, stack.centrifugoConfig.channel.proxy.subscribe]) {
      assert.equal(proxy.endpoint, `grpc://127.0.0.1:${stack.grpcPort}`);
      assert.equal(proxy.grpc.credentials_key, 'x-plughost-secret');
      assert.equal(proxy.grpc.credentials_value, stack.secret);
      assert.equal(proxy.grpc.compression, true);
      assert.equal(proxy.http, undefined);
    }
  });

  test('an RPC round trip: the plugin sees the connection, the client gets the reply', async () => {
    const params = { session_id: 'abc-123', data: 'bHMgLWxhCg==' };
    assert.deepEqual((await alice.rpc('echo', params)).data, { ...params, echoed: true });
    const { data } = await alice.rpc('whoami', {});
    assert.equal(data.user, '42');
    assert.equal(data.transport, 'websocket');
    assert.match(data.client, /^[0-9a-f-]{36}$/);
  });

  test('RPC errors arrive in-band with the same codes as over HTTP', async () => {
    const notFound = await rejection(alice.rpc('unknown.method', {}));
    assert.equal(notFound.error.code, 102);
    assert.equal(notFound.error.temporary, false);
    assert.match(notFound.error.message, /^Method 'unknown\.method' not found \(request [0-9a-f]+-[0-9a-f]+\)$/);
    const badParams = await rejection(alice.rpc('echo', { session_id: 7 }));
    assert.equal(badParams.error.code, 103, JSON.stringify(badParams.error));
    const own = await rejection(alice.rpc('whoami.fail', { code: 1234, message: 'custom failure' }));
    assert.deepEqual(own.error, { code: 1234, message: 'custom failure', temporary: false });
    const noMethod = await rejection(alice.rpc('', {}));
    assert.equal(noMethod.error.code, 101, JSON.stringify(noMethod.error));
  });

  test('the subscribe proxy over gRPC: own user channel allowed, another user’s refused', async () => {
    const own = await stack.subscribe(alice, 'user#42');
    assert.equal(own.sub.state, 'subscribed');
    alice.removeSubscription(own.sub);
    const { error } = await rejection(stack.subscribe(alice, 'user#43'));
    assert.equal(error.code, 103, `refusal: ${error.message}`);
  });

  test('a publishing RPC over the gRPC proxy reaches the subscriber', async () => {
    const { sub, inbox } = await stack.subscribe(alice, 'user#42');
    try {
      const reply = await bob.rpc('notifications.send', { user_id: '42', title: 'via grpc', body: 'proxy' });
      assert.deepEqual(reply.data, { success: true, message: 'Notification sent' });
      assert.deepEqual((await inbox.next()).data, { type: 'notification', title: 'via grpc', body: 'proxy' });
    } finally {
      alice.removeSubscription(sub);
    }
  });

  test('the HTTP front end saw no proxy traffic (every call went over gRPC)', async () => {
    const log = await stack.hostLog();
    assert.match(log, /serving Centrifugo gRPC proxy/);
    assert.doesNotMatch(log, /without a valid secret/, 'Centrifugo sent the credentials');
  });

  test('`centrifugo checkconfig` accepts the --grpc config', async () => {
    const { stdout, stderr } = await execFileP(CENTRIFUGO_BIN, ['checkconfig', '--config', stack.generatedConfig], {
      timeout: 20_000,
    });
    assert.doesNotMatch(`${stdout}${stderr}`, /error/i);
  });
});

describe('plughost -> Centrifugo over the gRPC server API (api = "grpc")', () => {
  let stack;
  let alice;
  let bob;

  before(async () => {
    stack = await startStack({ echo: null, notifications: NOTIFICATIONS_MANIFEST }, { grpcApi: true });
    [alice, bob] = await Promise.all([stack.connect('42'), stack.connect('43')]);
  });
  after(async () => {
    await stack?.stop();
  });

  test('the generated config enables grpc_api on the port the host dials', () => {
    assert.deepEqual(stack.centrifugoConfig.grpc_api, {
      enabled: true,
      address: '127.0.0.1',
      port: stack.grpcApiPort,
      key: stack.apiKey,
    });
  });

  test('notifications.send publishes through the gRPC API and the subscriber gets it', async () => {
    const { sub, inbox } = await stack.subscribe(alice, 'user#42');
    try {
      const reply = await bob.rpc('notifications.send', { user_id: '42', title: 'Hello', body: 'over gRPC ✓' });
      assert.deepEqual(reply.data, { success: true, message: 'Notification sent' });
      const pub = await inbox.next();
      assert.deepEqual(pub.data, { type: 'notification', title: 'Hello', body: 'over gRPC ✓' });
      assert.equal(inbox.pending, 0);
      // The publication went into history like an HTTP API publish would.
      const history = await sub.history({ limit: 10 });
      assert.deepEqual(history.publications.at(-1).data, pub.data);
    } finally {
      alice.removeSubscription(sub);
    }
  });

  test('notifications.broadcast goes through the gRPC Broadcast call', async () => {
    await broadcastReachesEverySubscriber(stack, alice, alice, bob);
  });
});

describe('with the gRPC server API unreachable or silent', () => {
  let refused;
  let silent;
  let blackHole;
  const sockets = new Set();

  before(async () => {
    // Host only: nothing listens on the gRPC API port it dials.
    refused = await startStack({ echo: null, notifications: NOTIFICATIONS_MANIFEST }, { grpcApi: true, centrifugo: false });
    // A server that accepts connections and never speaks HTTP/2.
    blackHole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    silent = await startStack(
      { echo: null, notifications: NOTIFICATIONS_MANIFEST },
      {
        grpcApi: true,
        grpcApiUrl: `http://127.0.0.1:${blackHole.address().port}`,
        apiTimeout: '1s',
        centrifugo: false,
      },
    );
  });
  after(async () => {
    await refused?.stop();
    await silent?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => blackHole?.close(resolve) ?? resolve());
  });

  const send = (stack, method = 'notifications.send') =>
    stack.post('/centrifugo/rpc', {
      client: 'c1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: '42',
      method,
      data: method === 'echo' ? { session_id: 's', data: 'd' } : { user_id: '42', title: 't', body: 'b' },
    });

  test('a refused connection fails promptly with the same temporary error as over HTTP', async () => {
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const res = await send(refused);
      const ms = performance.now() - started;
      assert.equal(res.status, 200);
      assert.equal(res.json?.error?.code, 1008, res.text); // the SDK's "unavailable"
      assert.equal(res.json.error.temporary, true);
      assert.doesNotMatch(res.json.error.message, /127\.0\.0\.1/, 'the API address stays out of client errors');
      assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
      const echo = await send(refused, 'echo');
      assert.deepEqual(echo.json, { result: { data: { session_id: 's', data: 'd', echoed: true } } });
    }
  });

  test('a silent server times out after api_timeout as a temporary error', async () => {
    const started = performance.now();
    const res = await send(silent);
    const ms = performance.now() - started;
    assert.equal(res.json?.error?.code, 1008, res.text);
    assert.equal(res.json.error.temporary, true);
    // api_timeout is 1s, the plugin deadline 5s.
    assert.ok(ms < 4000, `took ${ms.toFixed(0)} ms`);
  });
});

describe('the HTTP and gRPC server APIs give plugins the same results', () => {
  const PROBE_MANIFEST = 'grants = ["publish"]\nchannels = ["*"]\n';

  /** Runs every server-API call through the apiprobe fixture on a fresh stack; returns what it saw. */
  async function probe(grpcApi) {
    const stack = await startStack({ apiprobe: PROBE_MANIFEST }, { grpcApi });
    try {
      const client = await stack.connect('42');
      const { sub, inbox } = await stack.subscribe(client, 'notifications#probe');
      const call = (method, params) =>
        client.rpc(method, params).then(
          (r) => r.data,
          (e) => ({ error: { code: e.code, message: e.message, temporary: e.temporary } }),
        );
      const seen = {};
      seen.publish = await call('apiprobe.publish', { channels: ['notifications#probe'], data: { n: 1 } });
      seen.publishBinary = await call('apiprobe.publish', { channels: ['notifications#probe'], data: { n: 2 }, binary: true });
      seen.broadcast = await call('apiprobe.broadcast', { channels: ['notifications#probe', 'notifications#other'], data: { n: 3 } });
      seen.received = [];
      for (let i = 0; i < 3; i++) {
        const pub = await inbox.next();
        seen.received.push(pub.data instanceof Uint8Array ? Buffer.from(pub.data).toString() : pub.data);
      }
      seen.history = await call('apiprobe.history', { channel: 'notifications#probe', limit: 10 });
      seen.historyZero = await call('apiprobe.history', { channel: 'notifications#probe', limit: 0 });
      seen.presence = await call('apiprobe.presence', { channel: 'notifications#probe' });
      seen.noHistoryPublish = await call('apiprobe.publish', { channels: ['plain'], data: { n: 4 } });
      seen.noPresence = await call('apiprobe.presence', { channel: 'plain' });
      seen.unknownPublish = await call('apiprobe.publish', { channels: ['nonexistent#x'], data: {} });
      seen.unknownHistory = await call('apiprobe.history', { channel: 'nonexistent#x', limit: 1 });
      seen.badBroadcast = await call('apiprobe.broadcast', { channels: [], data: {} });
      client.removeSubscription(sub);
      return seen;
    } finally {
      await stack.stop();
    }
  }

  /** Epochs and client ids differ between runs; everything else must match. */
  function normalised(seen) {
    const copy = JSON.parse(JSON.stringify(seen));
    for (const key of ['publish', 'publishBinary']) {
      if (copy[key]?.position) {
        assert.match(copy[key].position.epoch, /^\w+$/, JSON.stringify(copy[key]));
        copy[key].position.epoch = '<epoch>';
      }
    }
    for (const c of copy.presence?.clients ?? []) {
      assert.match(c.client, /^[0-9a-f-]{36}$/);
      c.client = '<client>';
    }
    // Every error names its own request; the ids differ between the two runs.
    for (const value of Object.values(copy)) {
      if (value?.error?.message) {
        assert.match(value.error.message, / \(request [0-9a-f]+-[0-9a-f]+\)$/, JSON.stringify(value));
        value.error.message = value.error.message.replace(/ \(request [0-9a-f]+-[0-9a-f]+\)$/, ' (request <id>)');
      }
    }
    return copy;
  }

  test('publish, broadcast, history, presence and their errors', async () => {
    const http = await probe(false);
    const grpc = await probe(true);
    assert.deepEqual(normalised(grpc), normalised(http));
    // And the shared result is the expected one (not the same failure twice).
    const expected = normalised(http);
    assert.deepEqual(expected.publish, { position: { offset: 1, epoch: '<epoch>' } });
    assert.deepEqual(expected.publishBinary, { position: { offset: 2, epoch: '<epoch>' } });
    assert.deepEqual(expected.broadcast, { ok: true });
    assert.deepEqual(expected.history.publications.map((p) => [JSON.parse(p.data), p.offset]), [
      [{ n: 1 }, 1],
      [{ n: 2 }, 2],
      [{ n: 3 }, 3],
    ]);
    assert.deepEqual(expected.presence, { clients: [{ client: '<client>', user: '42' }] });
    assert.deepEqual(expected.noHistoryPublish, { position: null });
    assert.equal(expected.noPresence.error?.code, 1008, JSON.stringify(expected.noPresence));
    assert.equal(expected.unknownPublish.error?.code, 1002, JSON.stringify(expected.unknownPublish));
    assert.equal(expected.unknownHistory.error?.code, 1002, JSON.stringify(expected.unknownHistory));
    assert.equal(expected.badBroadcast.error?.code, 1007, JSON.stringify(expected.badBroadcast));
  });
});

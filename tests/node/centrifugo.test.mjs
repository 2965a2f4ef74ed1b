// End-to-end: centrifuge-js -> the real Centrifugo -> plughost -> wasm plugins, and back.
//
// Run: cd tests/node && npm ci && node --test
// Needs target/release/plughost, .tools/bin/centrifugo (or PLUGHOST_BIN / CENTRIFUGO_BIN),
// and the built plugins (make plugins test-plugins). Anything missing fails the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';

import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

import { CENTRIFUGO_BIN, freePort, requireBinaries, startStack, withTimeout } from './harness.mjs';
import { broadcastReachesEverySubscriber } from './checks.mjs';

const execFileP = promisify(execFile);

const NOTIFICATIONS_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n';
const SPIN_MANIFEST = '[limits]\ndeadline = "500ms"\n';

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

/** "6000ms" / "6s" -> milliseconds. */
function durationMs(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
  assert.ok(m, `unexpected duration ${text}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** An HS256 JWT signed with `secret` (to forge tokens the stack must refuse). */
function hs256(secret, claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

// At load time, so a missing binary fails the run (a failing hook would not count as a failure).
requireBinaries();

describe('plughost behind the real Centrifugo', () => {
  let stack;
  let alice; // user 42
  let bob; // user 43

  before(async () => {
    stack = await startStack({
      echo: null,
      whoami: null,
      notifications: NOTIFICATIONS_MANIFEST,
      trap: null,
      spin: SPIN_MANIFEST,
    });
    [alice, bob] = await Promise.all([stack.connect('42'), stack.connect('43')]);
  });
  after(async () => {
    await stack?.stop();
  });

  test('the host loaded every plugin it was given', async () => {
    const res = await fetch(`${stack.hostUrl}/plugins`);
    assert.equal(res.status, 200);
    const view = await res.json();
    assert.deepEqual(view.plugins.map((p) => p.name).sort(), ['echo', 'notifications', 'spin', 'trap', 'whoami']);
    for (const plugin of view.plugins) {
      assert.ok(plugin.methods?.length > 0, `${plugin.name} serves no method: ${JSON.stringify(plugin)}`);
      assert.ok(!plugin.last_refusal, `${plugin.name} was refused: ${JSON.stringify(plugin.last_refusal)}`);
    }
    // `/plugins` reports a refusal in each plugin's `last_refusal` (null when none): a missing
    // field counts as a refusal here, so a renamed field cannot make this pass unseen.
    const refused = view.plugins.filter((p) => p.last_refusal !== null).map((p) => `${p.name}: ${JSON.stringify(p.last_refusal)}`);
    assert.deepEqual(refused, []);
  });

  test('connects with a token minted by `plughost token`; the plugin sees the user', async () => {
    const { data } = await alice.rpc('whoami', {});
    assert.equal(data.user, '42');
    assert.equal(data.transport, 'websocket');
    assert.equal(data.protocol, 'json');
    assert.match(data.client, /^[0-9a-f-]{36}$/);
  });

  test('a token signed with another secret is refused by Centrifugo', async () => {
    const forged = hs256('not-the-secret', { sub: '42', exp: Math.floor(Date.now() / 1000) + 3600 });
    const client = new Centrifuge(stack.wsUrl, { websocket: WebSocket, token: forged, timeout: 5000 });
    const disconnected = new Promise((resolve) => client.on('disconnected', resolve));
    client.connect();
    try {
      const ctx = await withTimeout(disconnected, 10_000, 'waiting for the refusal');
      assert.equal(ctx.code, 3500, `disconnect: ${JSON.stringify(ctx)}`); // invalid token
    } finally {
      client.disconnect();
    }
  });

  test("rpc('echo') returns the params with echoed: true", async () => {
    const params = { session_id: 'abc-123', data: 'bHMgLWxhCg==' };
    const { data } = await alice.rpc('echo', params);
    assert.deepEqual(data, { ...params, echoed: true });
  });

  test('a user may subscribe to their own user#<id> and not to another user’s', async () => {
    const own = await stack.subscribe(alice, 'user#42');
    assert.equal(own.sub.state, 'subscribed');
    alice.removeSubscription(own.sub);

    const { error } = await rejection(stack.subscribe(alice, 'user#43'));
    assert.equal(error.code, 103, `refusal: ${error.message}`);
    assert.match(error.reason, /permission denied/);
  });

  test("rpc('notifications.send') replies, and the publication arrives with the exact payload", async () => {
    const { sub, inbox } = await stack.subscribe(alice, 'user#42');
    try {
      // Bob notifies user 43 first: that must not reach user#42.
      const other = await bob.rpc('notifications.send', { user_id: '43', title: 'not for 42', body: 'x' });
      assert.deepEqual(other.data, { success: true, message: 'Notification sent' });

      const reply = await bob.rpc('notifications.send', { user_id: '42', title: 'Hello', body: 'World ✓ "quoted"' });
      assert.deepEqual(reply.data, { success: true, message: 'Notification sent' });
      const pub = await inbox.next();
      assert.deepEqual(pub.data, { type: 'notification', title: 'Hello', body: 'World ✓ "quoted"' });
      assert.equal(pub.channel, 'user#42');
      assert.equal(inbox.pending, 0);

      // The namespace keeps history (the generated config turns it on).
      const history = await sub.history({ limit: 10 });
      assert.deepEqual(history.publications.at(-1).data, pub.data);
    } finally {
      alice.removeSubscription(sub);
    }
  });

  test("rpc('notifications.broadcast') reaches every notifications#broadcast subscriber", async () => {
    await broadcastReachesEverySubscriber(stack, alice, alice, bob);
  });

  test('the seed’s terminal#session#<id> channel works (subscription token, server API publish)', async () => {
    const channel = 'terminal#session#abc-123';
    // The terminal namespace is not open to clients without a token (no plugin authorises it).
    const { error } = await rejection(stack.subscribe(alice, channel));
    assert.equal(error.code, 103, `refusal: ${error.message}`);

    const token = await stack.token('42', { channel });
    const { sub, inbox } = await stack.subscribe(alice, channel, { token });
    try {
      const payload = { type: 'output', data: 'aGVsbG8K', timestamp: '2026-01-01T00:00:00Z' };
      await stack.api('publish', { channel, data: payload });
      assert.deepEqual((await inbox.next()).data, payload);
    } finally {
      alice.removeSubscription(sub);
    }
  });

  describe('error codes reach the client unchanged', () => {
    test('101: an RPC with an empty method name', async () => {
      // centrifuge-js sends rpc('') as is; Centrifugo proxies it without a method.
      const { error } = await rejection(alice.rpc('', {}));
      assert.equal(error.code, 101, JSON.stringify(error));
    });

    test("102: Method 'x' not found", async () => {
      const { error } = await rejection(alice.rpc('unknown.method', {}));
      assert.equal(error.code, 102);
      assert.equal(error.temporary, false);
      assert.match(error.message, /^Method 'unknown\.method' not found \(request [0-9a-f]+-[0-9a-f]+\)$/);
    });

    test('103: params that do not fit the method', async () => {
      const { error } = await rejection(alice.rpc('echo', { session_id: 7 }));
      assert.equal(error.code, 103, JSON.stringify(error));
      assert.equal(error.temporary, false);
    });

    test('500: a plugin that traps; the plugin keeps serving afterwards', async () => {
      const { error } = await rejection(alice.rpc('trap.panic', {}));
      assert.equal(error.code, 500, JSON.stringify(error));
      assert.doesNotMatch(error.message, /trap\.panic was called/, 'panic text must stay in the log');
      assert.deepEqual((await alice.rpc('trap.ok', {})).data, { ok: true });
    });

    test("a plugin's own code (whoami.fail 1234)", async () => {
      const { error } = await rejection(alice.rpc('whoami.fail', { code: 1234, message: 'custom failure' }));
      assert.deepEqual(error, { code: 1234, message: 'custom failure', temporary: false });
    });

    test('408: a plugin past its deadline fails within the proxy timeout; the host keeps serving', async () => {
      const proxyTimeoutMs = durationMs(stack.centrifugoConfig.rpc.proxy.timeout);
      const { error, ms } = await rejection(alice.rpc('spin.forever', {}));
      assert.equal(error.code, 408, JSON.stringify(error));
      assert.equal(error.temporary, true);
      // The manifest deadline is 500ms; Centrifugo would give up (code 100) at proxyTimeoutMs.
      assert.ok(ms < proxyTimeoutMs, `took ${ms.toFixed(0)} ms, proxy timeout ${proxyTimeoutMs} ms`);
      const { data } = await bob.rpc('echo', { session_id: 's', data: 'd' });
      assert.equal(data.echoed, true);
    });
  });

  describe('the proxy endpoint itself', () => {
    const rpcRequest = {
      client: '9336a229-2400-4ebc-8c50-0a643d22e8a0',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: 'user-123',
      method: 'echo',
      data: { session_id: 'abc-123', data: 'bHMgLWxhCg==' },
    };

    test('refuses requests without the secret (HTTP 401), or with a wrong one', async () => {
      const none = await stack.post('/centrifugo/rpc', rpcRequest, { headers: {} });
      assert.equal(none.status, 401);
      const wrong = await stack.post('/centrifugo/rpc', rpcRequest, { headers: { 'X-Plughost-Secret': 'nope' } });
      assert.equal(wrong.status, 401);
      const sub = await stack.post(
        '/centrifugo/subscribe',
        { client: 'c', transport: 'websocket', protocol: 'json', encoding: 'json', user: '42', channel: 'user#42' },
        { headers: {} },
      );
      assert.equal(sub.status, 401);
    });

    test('answers a request in Centrifugo’s format when the secret is sent', async () => {
      const ok = await stack.post('/centrifugo/rpc', rpcRequest);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.json, { result: { data: { ...rpcRequest.data, echoed: true } } });
    });
  });

  test('`centrifugo checkconfig` accepts the config plughost generated', async () => {
    const { stdout, stderr } = await execFileP(CENTRIFUGO_BIN, ['checkconfig', '--config', stack.generatedConfig], {
      timeout: 20_000,
    });
    assert.doesNotMatch(`${stdout}${stderr}`, /error/i);
  });
});

describe('with the Centrifugo API unreachable', () => {
  let stack;
  let client;

  before(async () => {
    // A port nothing listens on: the host's publishes are refused at once.
    const closed = await freePort();
    stack = await startStack(
      { echo: null, notifications: NOTIFICATIONS_MANIFEST },
      { apiUrl: `http://127.0.0.1:${closed}/api`, apiTimeout: '2s' },
    );
    client = await stack.connect('42');
  });
  after(async () => {
    await stack?.stop();
  });

  test('a publishing RPC fails promptly with a temporary error, and the host keeps serving', async () => {
    for (let i = 0; i < 3; i++) {
      const { error, ms } = await rejection(client.rpc('notifications.send', { user_id: '42', title: 't', body: 'b' }));
      assert.equal(error.code, 1008, JSON.stringify(error)); // the SDK's "unavailable"
      assert.equal(error.temporary, true);
      // Refused connections fail at once: well under api_timeout (2s) + the deadline (5s).
      assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
      const { data } = await client.rpc('echo', { session_id: 's', data: String(i) });
      assert.deepEqual(data, { session_id: 's', data: String(i), echoed: true });
    }
  });

  test('the same through a direct POST in Centrifugo’s format', async () => {
    const res = await stack.post('/centrifugo/rpc', {
      client: 'c1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: '42',
      method: 'notifications.broadcast',
      data: { title: 't', body: 'b' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.json?.error?.code, 1008, res.text);
    assert.equal(res.json.error.temporary, true);
    assert.doesNotMatch(res.json.error.message, /127\.0\.0\.1/, 'the API address stays out of client errors');
  });
});

describe('with a Centrifugo API that accepts connections but never answers', () => {
  let stack;
  let blackHole;
  const sockets = new Set();

  before(async () => {
    blackHole = http.createServer(() => {
      // never respond
    });
    blackHole.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    stack = await startStack(
      { echo: null, notifications: NOTIFICATIONS_MANIFEST },
      { apiUrl: `http://127.0.0.1:${blackHole.address().port}/api`, apiTimeout: '1s', centrifugo: false },
    );
  });
  after(async () => {
    await stack?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => blackHole?.close(resolve) ?? resolve());
  });

  test('a publish times out after api_timeout (not the plugin deadline) as a temporary error', async () => {
    const started = performance.now();
    const res = await stack.post('/centrifugo/rpc', {
      client: 'c1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: '42',
      method: 'notifications.send',
      data: { user_id: '42', title: 't', body: 'b' },
    });
    const ms = performance.now() - started;
    assert.equal(res.status, 200);
    assert.equal(res.json?.error?.code, 1008, res.text);
    assert.equal(res.json.error.temporary, true);
    // api_timeout is 1s, the plugin deadline 5s.
    assert.ok(ms < 4000, `took ${ms.toFixed(0)} ms`);
    const echo = await stack.post('/centrifugo/rpc', {
      client: 'c1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: '42',
      method: 'echo',
      data: { session_id: 's', data: 'd' },
    });
    assert.deepEqual(echo.json, { result: { data: { session_id: 's', data: 'd', echoed: true } } });
  });
});

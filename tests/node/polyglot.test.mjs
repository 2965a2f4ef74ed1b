// End-to-end: plugins written in Python (pyecho, pynotify) and JavaScript (jsecho) through
// the real Centrifugo with real centrifuge clients, beside the Rust `notifications` plugin.
//
// - pyecho.echo and jsecho.echo answer the seed's echo shape exactly.
// - pynotify.send publishes to user#<id>; the subscription is authorised by the Rust
//   `notifications` plugin (the one owner of the `user` namespace).
// - Params without session_id are refused with 103 naming the field, in both languages.
// - A Python handler that raises (the pyecho-v2 fixture, installed as pyecho.wasm) is a 500
//   whose message carries the request id and nothing of the exception or its traceback.
//
// These components are 14-18 MB: a cold compile cache costs ~8 s per plugin, paid by the
// stack's `plughost centrifugo-config` (which loads the plugins); later stacks load them
// from the shared cache.
//
// Needs the binaries of centrifugo.test.mjs and plugins/{pyecho,pynotify,jsecho,
// notifications}.wasm and tests/plugins/pyecho-v2.wasm (make plugins test-plugins).
// Anything missing fails the run.
//
// Run: cd tests/node && node --test --test-concurrency=1 polyglot.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { REPO, pluginPath, requireBinaries, startStack } from './harness.mjs';

/** The manifests the examples ship with. */
const manifest = (name) => readFileSync(path.join(REPO, 'plugins', `${name}.toml`), 'utf8');
const NOTIFICATIONS_MANIFEST = manifest('notifications');
const PYNOTIFY_MANIFEST = manifest('pynotify');
const JSECHO_MANIFEST = manifest('jsecho');

// A cold cache compiles pyecho, pynotify and jsecho in `centrifugo-config`: ~25 s on an idle
// 2-core machine, 69 s once at load average 10, past the harness's default 60 s.
const READY_TIMEOUT_MS = 180_000;

/** Awaits `promise`, which must reject; returns the rejection. */
async function rejection(promise) {
  try {
    const value = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error;
  }
}

// At load time, so a missing binary or plugin fails the run rather than skipping anything.
requireBinaries();
for (const name of ['pyecho', 'pynotify', 'jsecho', 'notifications', 'pyecho-v2']) pluginPath(name);

describe('Python and JS plugins behind the real Centrifugo', () => {
  let stack;
  let alice; // user 42
  let bob; // user 43

  before(async () => {
    stack = await startStack(
      {
        pyecho: null,
        jsecho: JSECHO_MANIFEST,
        pynotify: PYNOTIFY_MANIFEST,
        notifications: NOTIFICATIONS_MANIFEST,
      },
      { readyTimeoutMs: READY_TIMEOUT_MS },
    );
    [alice, bob] = await Promise.all([stack.connect('42'), stack.connect('43')]);
  });
  after(async () => {
    await stack?.stop();
  });

  test('the host loaded every plugin, none refused', async () => {
    const view = await (await fetch(`${stack.hostUrl}/plugins`)).json();
    assert.deepEqual(view.plugins.map((p) => p.name).sort(), ['jsecho', 'notifications', 'pyecho', 'pynotify']);
    const refused = view.plugins.filter((p) => p.last_refusal !== null).map((p) => `${p.name}: ${JSON.stringify(p.last_refusal)}`);
    assert.deepEqual(refused, []);
  });

  for (const method of ['pyecho.echo', 'jsecho.echo']) {
    test(`rpc('${method}') returns the seed's shape: the params with echoed: true`, async () => {
      const params = { session_id: 'abc-123', data: 'bHMgLWxhCg==' };
      const { data } = await alice.rpc(method, params);
      assert.deepEqual(data, { ...params, echoed: true });
    });
  }

  test("rpc('pynotify.send') replies, and a subscriber of user#<id> gets the exact payload", async () => {
    // A second connection of user 42, subscribed before the call (the Rust notifications
    // plugin authorises it: its own user#42).
    const phone = await stack.connect('42');
    const { sub, inbox } = await stack.subscribe(phone, 'user#42');
    try {
      // A notification for user 43 must not reach user#42.
      const other = await bob.rpc('pynotify.send', { user_id: '43', title: 'not for 42', body: 'x' });
      assert.deepEqual(other.data, { success: true, message: 'Notification sent' });

      const reply = await alice.rpc('pynotify.send', { user_id: '42', title: 'Hello', body: 'World ✓ "quoted"' });
      assert.deepEqual(reply.data, { success: true, message: 'Notification sent' });
      const pub = await inbox.next();
      assert.equal(pub.channel, 'user#42');
      assert.deepEqual(pub.data, { type: 'notification', title: 'Hello', body: 'World ✓ "quoted"' });
      assert.equal(inbox.pending, 0);

      // Only the user's own channel: notifications refuses user#43 to user 42.
      await assert.rejects(stack.subscribe(phone, 'user#43'), (e) => e.code === 103);
    } finally {
      phone.removeSubscription(sub);
    }
  });

  for (const method of ['pyecho.echo', 'jsecho.echo']) {
    test(`103: rpc('${method}') without session_id names the field`, async () => {
      const error = await rejection(alice.rpc(method, { data: 'bHMgLWxhCg==' }));
      assert.equal(error.code, 103, JSON.stringify(error));
      assert.equal(error.temporary, false, JSON.stringify(error));
      assert.match(error.message, /session_id/, JSON.stringify(error));
      // The plugin keeps serving.
      assert.equal((await alice.rpc(method, { session_id: 's', data: 'd' })).data.echoed, true);
    });
  }
});

describe('a Python handler that raises (pyecho-v2 installed as pyecho)', () => {
  let stack;
  let client;

  before(async () => {
    stack = await startStack(
      { pyecho: { file: pluginPath('pyecho-v2') } },
      { hostTomlTop: 'log_format = "json"', readyTimeoutMs: READY_TIMEOUT_MS },
    );
    client = await stack.connect('42');
  });
  after(async () => {
    await stack?.stop();
  });

  test('the fixture is what serves pyecho', async () => {
    const { data } = await client.rpc('pyecho.echo', { session_id: 's', data: 'd' });
    assert.deepEqual(data, { session_id: 's', data: 'd', echoed: true, version: 2 });
  });

  test('500 with a request id, and nothing of the exception reaches the client', async () => {
    const error = await rejection(client.rpc('pyecho.fail', {}));
    assert.equal(error.code, 500, JSON.stringify(error));
    const match = /\(request ([0-9a-f]+-[0-9a-f]+)\)$/.exec(error.message);
    assert.ok(match, `no request id at the end of the client's error message: ${error.message}`);
    for (const leak of ['Traceback', 'RuntimeError', 'hunter2', '/srv']) {
      assert.ok(!error.message.includes(leak), `${JSON.stringify(leak)} in the client's error: ${error.message}`);
    }
    // The traceback stays in the host's log, under the same id.
    const id = match[1];
    const logged = (await stack.hostLog())
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => (l.fields?.request_id ?? l.request_id ?? l.span?.request_id) === id);
    assert.ok(logged.length > 0, `no JSON log line with request_id ${id}`);
    assert.ok(
      logged.some((l) => /RuntimeError: database unreachable/.test(l.fields?.detail ?? '')),
      `no log line with request_id ${id} carrying the traceback: ${JSON.stringify(logged).slice(0, 2000)}`,
    );
    // The plugin keeps serving.
    assert.equal((await client.rpc('pyecho.echo', { session_id: 's', data: 'd' })).data.version, 2);
  });
});

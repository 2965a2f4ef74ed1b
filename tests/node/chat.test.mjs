// End-to-end: the `chat` example plugin (key-value history + publish) through the real
// Centrifugo with real clients, under its shipped manifest (plugins/chat.toml).
//
// - Embedded store: two clients, one sends and the other receives the publication on
//   `chat#<room>`; `chat.history` is newest first; anonymous callers get 1401; the history
//   survives a host restart (graceful, and a kill).
// - Redis store: two Centrifugo nodes and two hosts on one Redis (Centrifugo's engine and the
//   key-value store alike) see the same history and each other's publications; Redis stopped
//   gives 1008 temporary, and the hosts recover when it is back.
//
// Needs the binaries of centrifugo.test.mjs, plugins/chat.wasm (make plugins) and
// redis-server (Debian package; REDIS_SERVER_BIN overrides the path). Anything missing
// fails the run.
//
// Run: cd tests/node && node --test --test-concurrency=1 chat.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { eventually, redisServerBin, startRedis } from './redis.mjs';
import { REPO, freePort, pluginPath, requireBinaries, startStack } from './harness.mjs';

/** The manifest the example ships with. */
const CHAT_MANIFEST = readFileSync(path.join(REPO, 'plugins', 'chat.toml'), 'utf8');

/** Calls `method` on `client`; resolves `{data}` or `{error: {code, message, temporary}}`. */
const call = (client, method, params) =>
  client.rpc(method, params).then(
    (r) => ({ data: r.data }),
    (e) => ({ error: { code: e.code, message: e.message, temporary: e.temporary } }),
  );

/** `{data}` of a successful call; throws with the error otherwise. */
async function ok(client, method, params) {
  const reply = await call(client, method, params);
  assert.ok(reply.data, `${method}: ${JSON.stringify(reply)}`);
  return reply.data;
}


// At load time, so a missing binary or plugin fails the run rather than skipping anything.
requireBinaries();
pluginPath('chat');
redisServerBin(); // at load: a missing redis-server fails the run

describe('chat through the real Centrifugo, history in the embedded store', () => {
  let stack;
  let stateDir;
  let alice;
  let bob;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'plughost-chat-state-'));
    stack = await startStack(
      { chat: CHAT_MANIFEST },
      { hostTomlTop: `state_dir = ${JSON.stringify(stateDir)}` },
    );
    alice = await stack.connect('alice');
    bob = await stack.connect('bob');
  });
  after(async () => {
    await stack?.stop();
    if (stateDir && !process.env.PLUGHOST_E2E_KEEP) await rm(stateDir, { recursive: true, force: true });
  });

  test('the generated Centrifugo config has the chat namespace, authorised by the plugin', () => {
    const chat = stack.centrifugoConfig.channel.namespaces.find((n) => n.name === 'chat');
    assert.ok(chat, JSON.stringify(stack.centrifugoConfig.channel.namespaces));
    assert.equal(chat.subscribe_proxy_enabled, true);
  });

  test('one client sends, the other receives the publication on chat#<room>', async () => {
    const { inbox } = await stack.subscribe(bob, 'chat#lobby');
    const before = Date.now();
    const sent = await ok(alice, 'chat.send', { room: 'lobby', text: 'hello bob' });
    assert.equal(sent.id, 1);
    const pub = await inbox.next();
    assert.equal(pub.channel, 'chat#lobby');
    assert.deepEqual({ ...pub.data, ts: undefined }, { id: 1, user: 'alice', text: 'hello bob', ts: undefined });
    // The real clock (the manifest grants it), not the sandbox's frozen one.
    assert.ok(pub.data.ts >= before - 5000 && pub.data.ts <= Date.now() + 5000, JSON.stringify(pub.data));
    // A room is its own channel: another room's message does not arrive here.
    await ok(alice, 'chat.send', { room: 'other', text: 'elsewhere' });
    await ok(bob, 'chat.send', { room: 'lobby', text: 'hi alice' });
    const next = await inbox.next();
    assert.deepEqual([next.data.user, next.data.text, next.data.id], ['bob', 'hi alice', 2]);
    assert.equal(inbox.pending, 0);
  });

  test('chat.history returns the room newest first, limited', async () => {
    for (const text of ['three', 'four', 'five']) await ok(alice, 'chat.send', { room: 'lobby', text });
    const all = await ok(bob, 'chat.history', { room: 'lobby' });
    assert.deepEqual(
      all.messages.map((m) => [m.id, m.user, m.text]),
      [[5, 'alice', 'five'], [4, 'alice', 'four'], [3, 'alice', 'three'], [2, 'bob', 'hi alice'], [1, 'alice', 'hello bob']],
    );
    const two = await ok(bob, 'chat.history', { room: 'lobby', limit: 2 });
    assert.deepEqual(two.messages.map((m) => m.text), ['five', 'four']);
    assert.deepEqual((await ok(bob, 'chat.history', { room: 'empty' })).messages, []);
  });

  test('only the last 100 messages of a room are kept', async () => {
    for (let i = 1; i <= 105; i += 1) await ok(alice, 'chat.send', { room: 'busy', text: `m${i}` });
    const kept = await ok(bob, 'chat.history', { room: 'busy', limit: 1000 });
    assert.equal(kept.messages.length, 100);
    assert.equal(kept.messages[0].text, 'm105');
    assert.equal(kept.messages[99].text, 'm6');
  });

  test('anonymous callers get 1401 and cannot follow a room', async () => {
    const anonymous = await stack.connect('');
    for (const [method, params] of [
      ['chat.send', { room: 'lobby', text: 'who am i' }],
      ['chat.history', { room: 'lobby' }],
    ]) {
      const reply = await call(anonymous, method, params);
      assert.equal(reply.error?.code, 1401, `${method}: ${JSON.stringify(reply)}`);
    }
    await assert.rejects(stack.subscribe(anonymous, 'chat#lobby'));
    const history = await ok(alice, 'chat.history', { room: 'lobby', limit: 1 });
    assert.equal(history.messages[0].text, 'five', 'an anonymous send was stored');
  });

  test('room names that would reach other channels, and empty texts, are refused', async () => {
    for (const room of ['', 'a#b', 'lobby#x', 'x'.repeat(65), 'sp ace', 'ü']) {
      const reply = await call(alice, 'chat.send', { room, text: 'x' });
      assert.equal(reply.error?.code, 103, `${JSON.stringify(room)}: ${JSON.stringify(reply)}`);
    }
    assert.equal((await call(alice, 'chat.send', { room: 'lobby', text: '   ' })).error?.code, 103);
    await assert.rejects(stack.subscribe(bob, 'chat#a#b'));
  });

  test('the history survives a host restart, graceful or killed', async () => {
    for (const kill of [false, true]) {
      const before = await ok(bob, 'chat.history', { room: 'lobby', limit: 100 });
      await stack.restartHost({ kill });
      const afterRestart = await eventually(
        () => call(bob, 'chat.history', { room: 'lobby', limit: 100 }).then((r) => r.data),
        'history after the restart',
      );
      assert.deepEqual(afterRestart, before, `kill: ${kill}`);
      // Ids continue where they were.
      const sent = await ok(alice, 'chat.send', { room: 'lobby', text: `after restart ${kill}` });
      assert.equal(sent.id, before.messages[0].id + 1);
    }
  });
});

describe('chat on Redis: two nodes and two hosts share history; Redis down is 1008 temporary', () => {
  let dir;
  let redis;
  let redisPort;
  let nodeA;
  let nodeB;
  let alice;
  let bob;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'plughost-chat-redis-'));
    redisPort = await freePort();
    ({ redis } = await startRedis(dir, redisPort));
    const pluginsDir = path.join(dir, 'plugins');
    mkdirSync(pluginsDir);
    await copyFile(pluginPath('chat'), path.join(pluginsDir, 'chat.wasm'));
    await writeFile(path.join(pluginsDir, 'chat.toml'), CHAT_MANIFEST);
    const url = `redis://127.0.0.1:${redisPort}`;
    const options = {
      pluginsDir,
      // The Redis Centrifugo's engine uses is the key-value store too.
      centrifugoExtra: { engine: { type: 'redis', redis: { address: [url] } } },
      extraHostToml: `[kv]\nbackend = "redis"\nredis_url = ${JSON.stringify(url)}\nop_timeout = "1s"\n`,
    };
    nodeA = await startStack({}, options);
    nodeB = await startStack({}, options);
    alice = await nodeA.connect('alice');
    bob = await nodeB.connect('bob');
  });
  after(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    await redis?.stop();
    if (dir && !process.env.PLUGHOST_E2E_KEEP) await rm(dir, { recursive: true, force: true });
  });

  test('a message sent through one node reaches a client of the other and both histories', async () => {
    const { inbox } = await nodeB.subscribe(bob, 'chat#shared');
    const sent = await ok(alice, 'chat.send', { room: 'shared', text: 'across nodes' });
    assert.equal(sent.id, 1);
    assert.deepEqual([(await inbox.next()).data.text], ['across nodes']);
    await ok(bob, 'chat.send', { room: 'shared', text: 'back' });
    for (const client of [alice, bob]) {
      const history = await ok(client, 'chat.history', { room: 'shared' });
      assert.deepEqual(history.messages.map((m) => [m.id, m.user, m.text]), [[2, 'bob', 'back'], [1, 'alice', 'across nodes']]);
    }
  });

  test('Redis stopped: 1008 temporary on both hosts; back: both recover', async () => {
    await redis.stop();
    for (const client of [alice, bob]) {
      for (const [method, params] of [
        ['chat.send', { room: 'shared', text: 'while down' }],
        ['chat.history', { room: 'shared' }],
      ]) {
        const reply = await call(client, method, params);
        assert.equal(reply.error?.code, 1008, `${method}: ${JSON.stringify(reply)}`);
        assert.equal(reply.error?.temporary, true, `${method}: ${JSON.stringify(reply)}`);
      }
    }
    ({ redis } = await startRedis(dir, redisPort));
    // Redis came back empty (no persistence): a fresh room history, written and read anew.
    // (A send retried while Centrifugo's engine reconnects may have stored its message
    // before its publish failed, so the newest message is checked, not the id.)
    await eventually(
      () => call(alice, 'chat.send', { room: 'again', text: 'recovered' }).then((r) => r.data),
      'chat.send after Redis came back',
    );
    const history = await eventually(
      () => call(bob, 'chat.history', { room: 'again' }).then((r) => r.data),
      'chat.history after Redis came back',
    );
    assert.equal(history.messages[0].text, 'recovered', JSON.stringify(history));
  });
});

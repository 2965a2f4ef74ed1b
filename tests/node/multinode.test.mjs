// Multi-node: two Centrifugo nodes on one Redis engine, each with its own plughost (a
// sidecar per node), both hosts serving one shared plugins folder.
//
// - A client on node A calls notifications.send; host A publishes through node A's API; a
//   subscriber on node B receives it (Redis carries it between the nodes).
// - A plugin replaced in the shared folder (versioned v1 -> v2, renamed into place) is
//   picked up by both hosts.
//
// Needs redis-server (Debian package `redis-server`; REDIS_SERVER_BIN overrides the path).
// A missing or failing Redis fails the run: this test never skips.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { eventually, redisServerBin, startRedis } from './redis.mjs';
import { pluginPath, requireBinaries, sleep, startStack } from './harness.mjs';

const NOTIFICATIONS_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n';

/** The redis-server binary: REDIS_SERVER_BIN, /usr/bin/redis-server, or one on PATH. */

// At load time, so a missing binary fails the run rather than skipping anything.
requireBinaries();
redisServerBin(); // at load: a missing redis-server fails the run

describe('two Centrifugo nodes on Redis, a plughost per node, one plugins folder', () => {
  let dir;
  let redis;
  let nodeA;
  let nodeB;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'plughost-multinode-'));
    const started = await startRedis(dir);
    redis = started.redis;
    const pluginsDir = path.join(dir, 'plugins');
    mkdirSync(pluginsDir);
    await copyFile(pluginPath('echo'), path.join(pluginsDir, 'echo.wasm'));
    await copyFile(pluginPath('notifications'), path.join(pluginsDir, 'notifications.wasm'));
    await writeFile(path.join(pluginsDir, 'notifications.toml'), NOTIFICATIONS_MANIFEST);
    await copyFile(pluginPath('versioned-v1'), path.join(pluginsDir, 'versioned.wasm'));
    const options = {
      pluginsDir,
      centrifugoExtra: { engine: { type: 'redis', redis: { address: [`redis://127.0.0.1:${started.port}`] } } },
    };
    nodeA = await startStack({}, options);
    nodeB = await startStack({}, options);
  });
  after(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    await redis?.stop();
    if (dir && !process.env.PLUGHOST_E2E_KEEP) await rm(dir, { recursive: true, force: true });
  });

  test('the nodes find each other through Redis', async () => {
    for (const node of [nodeA, nodeB]) {
      await eventually(async () => (await node.api('info', {})).nodes?.length === 2, 'both nodes listed by info');
    }
  });

  test('an RPC on node A publishes; the subscriber on node B receives it', async () => {
    const [sender, receiver] = await Promise.all([nodeA.connect('43'), nodeB.connect('42')]);
    const { sub, inbox } = await nodeB.subscribe(receiver, 'user#42');
    try {
      const reply = await sender.rpc('notifications.send', { user_id: '42', title: 'from A', body: 'to B' });
      assert.deepEqual(reply.data, { success: true, message: 'Notification sent' });
      const pub = await inbox.next(10_000);
      assert.deepEqual(pub.data, { type: 'notification', title: 'from A', body: 'to B' });
      assert.equal(pub.channel, 'user#42');
      // History lives in Redis: node B reads what node A's host published.
      const history = await sub.history({ limit: 5 });
      assert.deepEqual(history.publications.at(-1).data, pub.data);

      // And the other way round: a broadcast from node B reaches a subscriber on node A.
      const onA = await nodeA.subscribe(sender, 'notifications#broadcast');
      const broadcast = await receiver.rpc('notifications.broadcast', { title: 'from B', body: 'to A' });
      assert.deepEqual(broadcast.data, { success: true, message: 'Notification broadcast' });
      assert.deepEqual((await onA.inbox.next(10_000)).data, { type: 'notification', title: 'from B', body: 'to A' });
    } finally {
      receiver.removeSubscription(sub);
    }
  });

  test('a plugin replaced in the shared folder is picked up by both hosts', async () => {
    const [a, b] = await Promise.all([nodeA.connect('1'), nodeB.connect('2')]);
    assert.deepEqual((await a.rpc('version.get', {})).data, { version: 1 });
    assert.deepEqual((await b.rpc('version.get', {})).data, { version: 1 });

    // Write beside the file under a name the hosts ignore, then rename over it (atomic).
    const tmp = path.join(nodeA.pluginsDir, '.versioned.wasm.tmp');
    await copyFile(pluginPath('versioned-v2'), tmp);
    await rename(tmp, path.join(nodeA.pluginsDir, 'versioned.wasm'));

    // Calls keep succeeding while each host swaps (an rpc error fails the test at once).
    for (const [name, client] of [['A', a], ['B', b]]) {
      const started = Date.now();
      while ((await client.rpc('version.get', {})).data.version !== 2) {
        assert.ok(Date.now() - started < 15_000, `host ${name} still serves v1 after 15 s`);
        await sleep(50);
      }
    }
    // Every call after the swap is v2 on both nodes; none failed during it.
    for (const client of [a, b]) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => client.rpc('version.get', {})));
      assert.ok(replies.every((r) => r.data.version === 2), JSON.stringify(replies.map((r) => r.data)));
    }
    const v2 = createHash('sha256').update(await readFile(pluginPath('versioned-v2'))).digest('hex');
    for (const node of [nodeA, nodeB]) {
      const view = await (await fetch(`${node.hostUrl}/plugins`)).json();
      const versioned = view.plugins.find((p) => p.name === 'versioned');
      assert.equal(versioned?.sha256, v2, JSON.stringify(versioned));
      assert.ok(versioned.previous, 'v1 kept as the previous version');
    }
  });
});

// End-to-end: a broadcast with a channel Centrifugo does not know, through the real
// Centrifugo, over both of the host's server-API backends (HTTP and gRPC).
//
// Centrifugo answers a broadcast with one response per channel; a channel in a namespace it
// does not have fails alone (error 102) while the others are delivered. The plugin must hear
// about it: `broadcast-each` reports each channel's outcome, and plain `broadcast` fails
// when any channel failed (it used to report success).
//
// Run: cd tests/node && node --test broadcast.test.mjs (needs the same binaries and plugins
// as centrifugo.test.mjs; anything missing fails the run).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { requireBinaries, startStack } from './harness.mjs';

// `user#*` is in a namespace of the generated config; `nosuchns#*` is not (checked below).
const PROBE_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "nosuchns#*"]\n';
const KNOWN = 'user#1';
const UNKNOWN = 'nosuchns#1';

// At load time, so a missing binary fails the run (a failing hook would not count as a failure).
requireBinaries();

/** A publication's payload as JSON, whether it arrived as JSON or as binary bytes. */
function payload(pub) {
  return pub.data instanceof Uint8Array ? JSON.parse(Buffer.from(pub.data).toString()) : pub.data;
}

for (const grpcApi of [false, true]) {
  describe(`a broadcast with an unknown channel (${grpcApi ? 'gRPC' : 'HTTP'} server API)`, () => {
    let stack;
    let client;
    let sub;
    let inbox;

    /** Calls `method`; resolves `{data}` or `{error: {code, message, temporary}}`. */
    const call = (method, params) =>
      client.rpc(method, params).then(
        (r) => ({ data: r.data }),
        (e) => ({ error: { code: e.code, message: e.message, temporary: e.temporary } }),
      );

    before(async () => {
      stack = await startStack({ apiprobe: PROBE_MANIFEST }, { grpcApi });
      client = await stack.connect('1');
      // `user` is not open to clients without a plugin authorising it: a subscription token.
      ({ sub, inbox } = await stack.subscribe(client, KNOWN, { token: await stack.token('1', { channel: KNOWN }) }));
    });
    after(async () => {
      await stack?.stop();
    });

    test('the generated Centrifugo config has the known namespace and not the unknown one', () => {
      const names = stack.centrifugoConfig.channel.namespaces.map((n) => n.name);
      assert.ok(names.includes('user'), JSON.stringify(names));
      assert.ok(!names.includes('nosuchns'), JSON.stringify(names));
    });

    test('broadcast-each reports each channel: the known one delivered, the unknown one unknown-channel', async () => {
      for (const binary of [false, true]) {
        const data = { n: 1, binary };
        const reply = await call('apiprobe.broadcast_each', { channels: [KNOWN, UNKNOWN], data, binary });
        assert.deepEqual(
          reply,
          { data: { results: [null, { code: 1002, message: 'unknown channel', temporary: false }] } },
          `binary: ${binary}`,
        );
        const pub = await inbox.next();
        assert.equal(pub.channel, KNOWN);
        assert.deepEqual(payload(pub), data);
        assert.equal(inbox.pending, 0);
      }
    });

    test('broadcast-each to known channels only: every channel succeeded', async () => {
      const reply = await call('apiprobe.broadcast_each', { channels: [KNOWN, 'user#2'], data: { n: 2 } });
      assert.deepEqual(reply, { data: { results: [null, null] } });
      assert.deepEqual(payload(await inbox.next()), { n: 2 });
    });

    test('plain broadcast to the same pair fails with unknown-channel instead of reporting success', async () => {
      for (const binary of [false, true]) {
        const reply = await call('apiprobe.broadcast', { channels: [KNOWN, UNKNOWN], data: { n: 3, binary }, binary });
        assert.equal(reply.error?.code, 1002, `binary: ${binary}: ${JSON.stringify(reply)}`); // the SDK's unknown-channel
        assert.equal(reply.error.temporary, false);
        // The host may tag the message with the request id; it never names the channel.
        assert.match(reply.error.message, /^unknown channel( \(request [\w-]+\))?$/);
        // Centrifugo still delivered to the known channel: a broadcast is not atomic.
        assert.deepEqual(payload(await inbox.next()), { n: 3, binary });
      }
      // The reply never names the channel (it may come from a client); the host's log does,
      // with the request id.
      const log = await stack.hostLog();
      assert.ok(
        log.split('\n').some((line) => line.includes(UNKNOWN) && /unknown ?channel|UnknownChannel/i.test(line) && /request_id/.test(line)),
        `the host log names the failed channel with the request id:\n${log.slice(-3000)}`,
      );
    });

    test('plain broadcast to known channels only still succeeds', async () => {
      assert.deepEqual(await call('apiprobe.broadcast', { channels: [KNOWN, 'user#2'], data: { n: 4 } }), { data: { ok: true } });
      assert.deepEqual(payload(await inbox.next()), { n: 4 });
    });

    test('broadcast-each keeps the grant checks: a channel outside the patterns denies the whole call', async () => {
      const reply = await call('apiprobe.broadcast_each', { channels: [KNOWN, 'terminal#x'], data: { n: 5 } });
      assert.equal(reply.error?.code, 1003, JSON.stringify(reply));
      assert.doesNotMatch(reply.error.message, /terminal#x/);
      const empty = await call('apiprobe.broadcast_each', { channels: [], data: {} });
      assert.equal(empty.error?.code, 1007, JSON.stringify(empty));
      assert.equal(inbox.pending, 0);
      client.removeSubscription(sub);
    });
  });
}

// End-to-end: one request id, followed from a client's error reply through the real
// Centrifugo to the host's JSON log line and to the request the host sent to Centrifugo's
// server API during the call.
//
// The host's server API calls go through a recording proxy (a plain HTTP server in this
// process, forwarding to the real Centrifugo), so the test sees each request's
// `X-Request-Id` header. The call is `apiprobe.broadcast` to a channel Centrifugo knows and
// one it does not: Centrifugo refuses the second, the plugin's broadcast fails with 1002, and
// the client's error message ends with `(request <id>)`.
//
// Run: cd tests/node && node --test request-id.test.mjs (needs the same binaries and plugins
// as centrifugo.test.mjs; anything missing fails the run).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { freePort, requireBinaries, startStack } from './harness.mjs';

// `user#*` is in a namespace of the generated config; `nosuchns#*` is not.
const PROBE_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "nosuchns#*"]\n';

requireBinaries();

/** An HTTP proxy in front of `target` (set once known) that records every request it forwards. */
async function recordingProxy() {
  const seen = [];
  const proxy = { target: null, seen };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, path: req.url, requestId: req.headers['x-request-id'], body: body.toString() });
      const url = new URL(req.url, proxy.target);
      const headers = { ...req.headers, host: url.host };
      const forward = http.request(url, { method: req.method, headers }, (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
      });
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${port}/api`;
  proxy.close = () => new Promise((resolve) => server.close(resolve));
  return proxy;
}

let stack;
let proxy;

before(async () => {
  proxy = await recordingProxy();
  stack = await startStack({ apiprobe: PROBE_MANIFEST }, { apiUrl: proxy.url, hostTomlTop: 'log_format = "json"' });
  proxy.target = stack.centrifugoUrl;
});
after(async () => {
  await stack?.stop();
  await proxy?.close();
});

test("a failed call's request id is in the client's error, the host's JSON log and its Centrifugo API request", async () => {
  const client = await stack.connect('1');
  const error = await client.rpc('apiprobe.broadcast', { channels: ['user#1', 'nosuchns#1'], data: { n: 1 } }).then(
    (r) => assert.fail(`the broadcast succeeded: ${JSON.stringify(r.data)}`),
    (e) => e,
  );
  assert.equal(error.code, 1002, JSON.stringify(error));
  const match = /\(request ([0-9a-f]+-[0-9a-f]+)\)$/.exec(error.message);
  assert.ok(match, `no request id at the end of the client's error message: ${error.message}`);
  const id = match[1];

  // The request the host sent to Centrifugo's server API during the call carries the id.
  const sent = proxy.seen.filter((r) => r.requestId === id);
  assert.equal(sent.length, 1, `requests with X-Request-Id ${id}: ${JSON.stringify(proxy.seen)}`);
  assert.equal(sent[0].method, 'POST');
  assert.match(sent[0].path, /\/api\/broadcast$/);
  assert.deepEqual(JSON.parse(sent[0].body).channels, ['user#1', 'nosuchns#1']);

  // The host's log has a JSON line with the same id naming what failed.
  const lines = (await stack.hostLog())
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const logged = lines.filter((l) => (l.fields?.request_id ?? l.request_id) === id);
  assert.ok(logged.length > 0, `no JSON log line with request_id ${id}`);
  assert.ok(
    logged.some((l) => /broadcast/.test(l.fields?.message ?? '') && (l.fields?.channel ?? '') === 'nosuchns#1'),
    `no log line with request_id ${id} naming the failed channel: ${JSON.stringify(logged)}`,
  );
  // Another call gets another id: the id is the call's, not the connection's.
  const second = await client.rpc('apiprobe.broadcast', { channels: ['nosuchns#2'], data: {} }).catch((e) => e);
  assert.ok(second.message && !second.message.includes(id), second.message);
});

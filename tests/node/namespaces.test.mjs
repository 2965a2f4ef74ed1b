// End-to-end: Centrifugo's channel-namespace rule, through the real Centrifugo and centrifuge-js.
//
// With `channel.namespace_boundary = "#"` the namespace of a channel is the part before its
// first `#`, and a name without `#` is in the default namespace `""` (Centrifugo's
// `channel.without_namespace`). Two fixtures split the channels between them:
// `defaultns` (`#[subscribe("")]`) and `newsns` (`#[subscribe("news")]`); each grant's data
// says which plugin answered, `{"by": ...}`.
//
// Run: cd tests/node && node --test namespaces.test.mjs
// Needs target/release/plughost, .tools/bin/centrifugo and the fixtures (make test-plugins).
// Anything missing fails the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { requireBinaries, startStack } from './harness.mjs';

// At load time, so a missing binary fails the run (a failing hook would not count as a failure).
requireBinaries();

/** Awaits `promise`, which must reject; returns the rejection. */
async function rejection(promise) {
  try {
    const value = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(Object.keys(value ?? {}))}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error;
  }
}

/** The host's `/plugins` view: plugin name -> its status (methods, namespaces, calls). */
async function pluginsByName(stack) {
  const res = await fetch(`${stack.hostUrl}/plugins`);
  assert.equal(res.status, 200);
  const view = await res.json();
  assert.deepEqual(view.refused ?? [], [], 'no plugin may be refused');
  return Object.fromEntries(view.plugins.map((p) => [p.name, p]));
}

/** Subscribes, checks the subscription is live, and returns the subscribe proxy's `data`. */
async function subscribeData(stack, client, channel) {
  const { sub, subscribed } = await stack.subscribe(client, channel);
  try {
    assert.equal(sub.state, 'subscribed');
    return subscribed.data;
  } finally {
    client.removeSubscription(sub);
  }
}

describe('channel namespaces: the default namespace "" and "news"', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startStack({ defaultns: null, newsns: null });
    alice = await stack.connect('42');
  });
  after(async () => {
    await stack?.stop();
  });

  test('both plugins loaded, declaring namespaces "" and "news"', async () => {
    const plugins = await pluginsByName(stack);
    assert.deepEqual(Object.keys(plugins).sort(), ['defaultns', 'newsns']);
    assert.deepEqual(plugins.defaultns.subscribe_namespaces, ['']);
    assert.deepEqual(plugins.newsns.subscribe_namespaces, ['news']);
    for (const name of ['defaultns', 'newsns']) {
      assert.ok(!plugins[name].last_refusal, `${name} refused: ${JSON.stringify(plugins[name].last_refusal)}`);
    }
    const { data } = await alice.rpc('defaultns.ping', {});
    assert.equal(data, 'pong');
  });

  test('the generated Centrifugo config proxies subscriptions of both namespaces', () => {
    const { channel } = stack.centrifugoConfig;
    assert.equal(channel.namespace_boundary, '#');
    assert.equal(channel.without_namespace?.subscribe_proxy_enabled, true, JSON.stringify(channel.without_namespace));
    const news = channel.namespaces.find((n) => n.name === 'news');
    assert.equal(news?.subscribe_proxy_enabled, true, JSON.stringify(channel.namespaces));
    assert.ok(!channel.namespaces.some((n) => n.name === ''), 'the default namespace is not a named namespace');
  });

  test('`news` (no `#`) is in the default namespace: defaultns authorises it, newsns is not asked', async () => {
    const before = await pluginsByName(stack);
    const data = await subscribeData(stack, alice, 'news');
    assert.deepEqual(data, { by: 'defaultns', channel: 'news' });
    const after = await pluginsByName(stack);
    assert.equal(after.defaultns.calls, before.defaultns.calls + 1, 'defaultns answered once');
    assert.equal(after.newsns.calls, before.newsns.calls, 'newsns was not asked');
  });

  test('`news#today` is in namespace "news": newsns authorises it, defaultns is not asked', async () => {
    const before = await pluginsByName(stack);
    const data = await subscribeData(stack, alice, 'news#today');
    assert.deepEqual(data, { by: 'newsns', channel: 'news#today' });
    const after = await pluginsByName(stack);
    assert.equal(after.newsns.calls, before.newsns.calls + 1, 'newsns answered once');
    assert.equal(after.defaultns.calls, before.defaultns.calls, 'defaultns was not asked');
  });

  test('a publication reaches a subscriber of the default-namespace channel', async () => {
    const { sub, inbox } = await stack.subscribe(alice, 'news');
    try {
      await stack.api('publish', { channel: 'news', data: { headline: 'hello' } });
      assert.deepEqual((await inbox.next()).data, { headline: 'hello' });
    } finally {
      alice.removeSubscription(sub);
    }
  });
});

describe('channel namespaces: without a plugin for the default namespace', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startStack({ newsns: null });
    alice = await stack.connect('42');
  });
  after(async () => {
    await stack?.stop();
  });

  test('the generated config leaves the default namespace unproxied', () => {
    const { without_namespace: withoutNamespace } = stack.centrifugoConfig.channel;
    assert.notEqual(withoutNamespace?.subscribe_proxy_enabled, true, JSON.stringify(withoutNamespace));
  });

  test('subscribing to `news` is refused; `news#today` still goes to newsns', async () => {
    const error = await rejection(stack.subscribe(alice, 'news'));
    assert.equal(error.code, 103, `refusal: ${error.message}`);
    assert.match(error.reason, /permission denied/);

    const data = await subscribeData(stack, alice, 'news#today');
    assert.deepEqual(data, { by: 'newsns', channel: 'news#today' });
  });
});

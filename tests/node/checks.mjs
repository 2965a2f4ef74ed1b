// Assertions shared by suites that run the same scenario over different transports
// (HTTP or gRPC proxy, HTTP or gRPC server API).

import assert from 'node:assert/strict';

/** `notifications.broadcast` called by `caller` reaches both `a` and `b` on notifications#broadcast. */
export async function broadcastReachesEverySubscriber(stack, caller, a, b) {
  const subA = await stack.subscribe(a, 'notifications#broadcast');
  const subB = await stack.subscribe(b, 'notifications#broadcast');
  try {
    const reply = await caller.rpc('notifications.broadcast', { title: 'Maintenance', body: 'at 5' });
    assert.deepEqual(reply.data, { success: true, message: 'Notification broadcast' });
    const expected = { type: 'notification', title: 'Maintenance', body: 'at 5' };
    assert.deepEqual((await subA.inbox.next()).data, expected);
    assert.deepEqual((await subB.inbox.next()).data, expected);
  } finally {
    a.removeSubscription(subA.sub);
    b.removeSubscription(subB.sub);
  }
}

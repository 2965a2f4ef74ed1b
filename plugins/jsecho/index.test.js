// Native tests of the jsecho example (`cd plugins/jsecho && npm install && npm test`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestHost, user, anonymous } from "@plughost/sdk/testing";
import "./index.js";

const host = new TestHost();

test("echo returns its params with echoed", () => {
  const reply = host.call("jsecho.echo", user("42"), { session_id: "abc-123", data: "bHMK" });
  assert.deepEqual(reply, { session_id: "abc-123", data: "bHMK", echoed: true });
});

test("echo without session_id is 103 naming the field", () => {
  assert.throws(() => host.call("jsecho.echo", user("42"), { data: "bHMK" }),
    (e) => e.code === 103 && e.message === "invalid params: missing field 'session_id'");
});

test("echo publishes nothing and works with Centrifugo down", () => {
  host.failPublish("unavailable", "centrifugo is down");
  assert.equal(host.call("jsecho.echo", anonymous(), { session_id: "s", data: "d" }).echoed, true);
  assert.deepEqual(host.published, []);
});

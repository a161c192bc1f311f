import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeHeaderText, durableNameOf, encodeHeaderText, streamNameOf, subjectOf } from "./nats-names.js";

describe("JetStream names of topics and groups", () => {
  it("are valid stream, consumer and subject names, readable, and distinct for topics that clean up alike", () => {
    const topics = ["orders", "orders.dead-letter", "orders_dead-letter", "a b/c*>d\\e", "ünïcode", "x".repeat(300)];
    const names = topics.map(streamNameOf);
    for (const name of names) assert.match(name, /^SB_[A-Za-z0-9_-]{1,48}_[0-9a-f]{10}$/);
    assert.equal(new Set(names).size, topics.length);
    assert.match(streamNameOf("orders"), /^SB_orders_/);
    for (const topic of topics) assert.equal(subjectOf(topic), `switchboard.topic.${streamNameOf(topic)}`);
    assert.match(durableNameOf("com.example.Service"), /^com_example_Service_[0-9a-f]{10}$/);
    assert.notEqual(durableNameOf("a.b"), durableNameOf("a_b"));
  });

  it("encode header text without newlines or control characters, and decode it back", () => {
    for (const text of ["plain", "two\nlines\r\n", "100% sure", "ünïcode ✓", "tab\there", ""]) {
      const value = encodeHeaderText(text, true);
      assert.match(value, /^[\x20-\x7e]*$/);
      assert.equal(decodeHeaderText(value), text);
      const name = encodeHeaderText(text, false);
      assert.match(name, /^[\x21-\x7e]*$/);
      assert.ok(!name.includes(":"));
      assert.equal(decodeHeaderText(name), text);
    }
  });
});

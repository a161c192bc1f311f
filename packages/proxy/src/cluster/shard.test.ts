import assert from "node:assert/strict";
import { test } from "node:test";
import { shardLease, shardOf } from "./shard.js";

test("shardOf is stable, in range and spreads keys", () => {
  // Fixed values: every node and every release must agree on them.
  assert.equal(shardOf("", "", 1 << 30), 0x050c5d1f % (1 << 30));
  assert.equal(shardOf("counter", "alice", 1024), shardOf("counter", "alice", 1024));
  assert.notEqual(shardOf("counter", "alice", 1 << 30), shardOf("counte", "ralice", 1 << 30));
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) {
    const shard = shardOf("cart", `user-${i}`, 16);
    assert.ok(shard >= 0 && shard < 16);
    counts[shard] = (counts[shard] ?? 0) + 1;
  }
  for (const count of counts) assert.ok(count > 800 && count < 1200, `uneven spread: ${counts.join(",")}`);
  assert.equal(shardLease(7), "shard/7");
});

test("shardOf refuses a shard count that is not a positive integer", () => {
  assert.throws(() => shardOf("a", "b", 0), /positive integer/);
  assert.throws(() => shardOf("a", "b", 1.5), /positive integer/);
});

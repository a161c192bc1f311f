import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testCrdtEntity } from "@switchboard/sdk/testing";
import { likes } from "./likes.js";

describe("likes", () => {
  it("counts likes, sending each as a GCounter delta", async () => {
    const t = testCrdtEntity(likes, { entityId: "p1" });
    assert.equal((await t.call("getLikes", { postId: "p1" })).reply?.count, 0n);
    const r = await t.call("like", { postId: "p1" });
    assert.equal(r.reply?.count, 1n);
    assert.equal(r.stateChange?.kind, "update");
    assert.equal((await t.call("like", { postId: "p1" })).reply?.count, 2n);
  });
});

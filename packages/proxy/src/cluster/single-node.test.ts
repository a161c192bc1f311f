import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { EntityServiceModel } from "../descriptors/service-model.js";
import { Code, SwitchboardError } from "../errors/index.js";
import { LOCAL_WRITER } from "../store/types.js";
import { SINGLE_NODE_ID, singleNode } from "./single-node.js";

test("a single node places every entity here with the local writer and has no one to forward to", async () => {
  const node = singleNode();
  const decision = await node.placement.locate({ name: "a.B", persistenceId: "b" } as EntityServiceModel, "x");
  assert.deepEqual(decision, { kind: "local", writer: LOCAL_WRITER });
  const command = { service: "a.B", method: "M", entityId: "x", payload: create(AnySchema) };
  await assert.rejects(node.forwarder.forward({ nodeId: "n2", address: "127.0.0.1:1" }, command), (error: unknown) => {
    assert.ok(error instanceof SwitchboardError);
    assert.equal(error.code, Code.Unavailable);
    return true;
  });
  await assert.rejects(async () => {
    for await (const _ of node.forwarder.forwardStreamed({ nodeId: "n2", address: "127.0.0.1:1" }, command)) assert.fail("yielded");
  }, /not part of a cluster/);
  assert.equal(node.replicas.nodeId, SINGLE_NODE_ID);
  assert.deepEqual(node.replicas.members(), [SINGLE_NODE_ID]);
  await node.replicas.awaitConsistency("all", { persistenceId: "p", entityId: "x", delta: new Uint8Array() });
  await node.close();
});

/**
 * A call forwarded between two real proxies over the mesh: the caller proxy's placement
 * says every CRDT entity lives on the owner, so a gRPC call to the caller's front port
 * goes router → mesh forwarder → the owner's mesh server → the owner's EntityHost → the
 * real user function, and the outcome comes back to be settled on the caller. Covers
 * replies, forwards, streamed calls and their cancellation, deadlines, and the owner
 * going away.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { crdt as tck } from "@switchboard/protocol/tck";
import { createMeshForwarder, type MeshServer, startMeshServer } from "../../packages/proxy/src/cluster/mesh/index.js";
import { singleNodeReplicas } from "../../packages/proxy/src/cluster/single-node.js";
import type { ClusterFactory } from "../../packages/proxy/src/cluster/types.js";
import { parseConfig } from "../../packages/proxy/src/config/index.js";
import { silentLogger } from "../../packages/proxy/src/observability/logger.js";
import { createProxy, type SwitchboardProxy } from "../../packages/proxy/src/proxy.js";
import { act, openStream, processCall, stateOf } from "../crdt/support/crdt-client.js";
import { type CrdtUserFunction, startCrdtUserFunction } from "../crdt/support/crdt-user-function.js";
import { createTestClient, eventually, type TestClient } from "../support/grpc-client.js";

async function startProxy(userFunctionPort: number, cluster?: ClusterFactory): Promise<SwitchboardProxy> {
  const parsed = parseConfig(
    ["--user-function-port", String(userFunctionPort), "--http-port", "0", "--bind", "127.0.0.1", "--store", "memory", "--admin-port", "0"],
    {},
  );
  assert.ok(parsed.config, parsed.error);
  let ready!: () => void;
  const discovered = new Promise<void>((r) => (ready = r));
  const proxy = await createProxy({ config: parsed.config, logger: silentLogger, onReady: () => ready(), ...(cluster ? { cluster } : {}) });
  await discovered;
  return proxy;
}

const incoming = (uf: CrdtUserFunction, id: string) => uf.streamsOf(id).flatMap((s) => s.messages.map((m) => m.message));

describe("calls forwarded over the mesh between two proxies", () => {
  let uf: CrdtUserFunction;
  let owner: SwitchboardProxy;
  let mesh: MeshServer;
  let caller: SwitchboardProxy;
  let client: TestClient;
  const forwarder = createMeshForwarder({ logger: silentLogger });
  let n = 0;
  const nextId = (type: string) => `${type}-mesh-${++n}`;

  before(async () => {
    uf = await startCrdtUserFunction();
    owner = await startProxy(uf.port);
    mesh = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost: owner.entities, logger: silentLogger });
    const address = mesh.address;
    caller = await startProxy(uf.port, () => ({
      placement: { locate: () => ({ kind: "remote", nodeId: "owner", address }) },
      forwarder,
      replicas: singleNodeReplicas("caller"),
      close: async () => forwarder.close(),
    }));
    client = createTestClient(caller.port);
  });
  after(async () => {
    client.close();
    await caller.close();
    await mesh.close();
    await owner.close();
    await uf.close();
  });

  it("answers with the owner's reply; the entity runs on the owner only", async () => {
    const id = nextId("PNCounter");
    const first = await processCall(client, id, [act.update({ case: "pncounter", value: { change: 5n } })]);
    assert.equal(first.code, grpc.status.OK, first.details);
    assert.equal(stateOf(first.messages[0]), 5n);
    const second = await processCall(client, id, [act.update({ case: "pncounter", value: { change: -2n } })]);
    assert.equal(stateOf(second.messages[0]), 3n);
    // One entity stream: the owner's. The caller never activated the entity.
    assert.equal(uf.streamsOf(id).length, 1);
  });

  it("passes a failure through, and settles a forward on the calling node", async () => {
    const id = nextId("GCounter");
    const failed = await processCall(client, id, [act.fail("expected failure")]);
    assert.equal(failed.code, grpc.status.UNKNOWN);
    assert.match(failed.details, /expected failure/);
    const forwarded = await processCall(client, id, [act.forward(id)]);
    assert.equal(forwarded.code, grpc.status.OK, forwarded.details);
  });

  it("streams a server-streamed call from the owner, and a client cancel reaches the user function", async () => {
    const id = nextId("PNCounter");
    const stream = openStream(client, { id });
    assert.equal(stateOf(await stream.message(0)), 0n);
    const changed = await processCall(client, id, [act.update({ case: "pncounter", value: { change: 4n } })]);
    assert.equal(changed.code, grpc.status.OK, changed.details);
    assert.equal(stateOf(await stream.message(1)), 4n);
    stream.cancel();
    await eventually(() => incoming(uf, id).some((m) => m.case === "streamCancelled"), 5000, "StreamCancelled at the user function");
  });

  it("keeps the client's deadline across the hop", async () => {
    const id = nextId("GCounter");
    const result = await client.unary(
      "/cloudstate.tck.model.crdt.CrdtTckModel/Process",
      tck.RequestSchema,
      tck.ResponseSchema,
      { id, actions: [{ action: act.fail("!slow:5000") }] },
      { deadlineMs: 400 },
    );
    assert.equal(result.code, grpc.status.DEADLINE_EXCEEDED, result.details);
  });

  it("fails with UNAVAILABLE naming the owner once its mesh port is gone", async () => {
    const port = Number(mesh.address.split(":").at(-1));
    await mesh.close();
    const result = await processCall(client, nextId("GCounter"), [act.update({ case: "gcounter", value: { increment: 1n } })]);
    assert.equal(result.code, grpc.status.UNAVAILABLE);
    assert.match(result.details, /node owner \(127\.0\.0\.1:\d+\) is unavailable/);
    // Back on the same port: the caller reaches it again.
    mesh = await startMeshServer({ host: "127.0.0.1", port, entityHost: owner.entities, logger: silentLogger });
    const again = await processCall(client, nextId("GCounter"), [act.update({ case: "gcounter", value: { increment: 1n } })]);
    assert.equal(again.code, grpc.status.OK, again.details);
  });
});

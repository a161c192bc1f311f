import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { valueentity } from "@switchboard/protocol/tck";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { startModelUserFunction, TRIGGERS } from "./support/model-user-function.js";
import { startProxy } from "./support/proxy-process.js";

const PROCESS = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";
const { RequestSchema, ResponseSchema } = valueentity;
type Action = NonNullable<MessageInitShape<typeof valueentity.RequestActionSchema>["action"]>;

describe("entity limits through the proxy", () => {
  it("with --max-active-entities, passivates the least recently used entities and keeps their state", async () => {
    const uf = await startModelUserFunction();
    const proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--max-active-entities", "3"] });
    const client = createTestClient(proxy.port);
    const call = (id: string, actions: Action[]) =>
      client.unary(PROCESS, RequestSchema, ResponseSchema, { id, actions: actions.map((action) => ({ action })) });
    const streamsOf = (id: string) => uf.streams.filter((s) => s.messages[0]?.message.case === "init" && s.messages[0].message.value.entityId === id);
    const open = () => uf.streams.filter((s) => s.messages[0]?.message.case === "init" && !s.ended).length;
    try {
      for (let i = 0; i < 10; i++) {
        const result = await call(`lru-${i}`, [{ case: "update", value: { value: `v${i}` } }]);
        assert.equal(result.code, grpc.status.OK, result.details);
        await eventually(() => open() <= 3, 3000, `at most 3 active entities after ${i + 1} calls (open: ${open()})`);
      }
      assert.equal(streamsOf("lru-0")[0]?.ended, true, "the least recently used entity was passivated");
      assert.equal(streamsOf("lru-9")[0]?.ended, false, "the latest entity is active");
      // A passivated entity comes back from the store.
      assert.equal((await call("lru-0", [])).messages[0]?.message, "v0");
      assert.equal(streamsOf("lru-0").length, 2);
    } finally {
      client.close();
      await proxy.stop();
      await uf.close();
    }
  });

  it("refuses a --max-active-entities that is not a positive number", async () => {
    const proxy = await startProxy({ userFunctionPort: 1, waitFor: "spawn", extraArgs: ["--max-active-entities", "0"] });
    try {
      const code = await new Promise<number | null>((resolve) => proxy.child.once("exit", (exitCode) => resolve(exitCode)));
      assert.equal(code, 2);
      assert.match(proxy.stderr(), /--max-active-entities must be a positive whole number of entities, got "0"/);
    } finally {
      await proxy.kill();
    }
  });

  it("a client deadline reaches the entity command: the entity is freed at the deadline and the command queued behind it succeeds", async () => {
    const uf = await startModelUserFunction();
    // The relay timeout stays at its 60 s default: only the client's deadline can free the entity in time.
    const proxy = await startProxy({ userFunctionPort: uf.port });
    const client = createTestClient(proxy.port);
    try {
      await client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "deadline", actions: [{ action: { case: "update", value: { value: "kept" } } }] });
      const started = Date.now();
      const [silent, queued] = await Promise.all([
        client.unary(
          PROCESS,
          RequestSchema,
          ResponseSchema,
          { id: "deadline", actions: [{ action: { case: "fail", value: { message: TRIGGERS.noReply } } }] },
          { deadlineMs: 1000 },
        ),
        client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "deadline", actions: [] }),
      ]);
      assert.equal(silent.code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(queued.code, grpc.status.OK, queued.details);
      assert.equal(queued.messages[0]?.message, "kept");
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      client.close();
      await proxy.stop();
      await uf.close();
    }
  });
});

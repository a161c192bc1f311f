import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { action as actionModel } from "@switchboard/protocol/tck";
import { action } from "./entities/action/definition.js";
import { silentLogger } from "./logger.js";
import { createServer } from "./server.js";

const two = action({ service: actionModel.ActionTwo, handlers: { call: () => undefined } });

describe("createServer()", () => {
  it("rejects an empty entity list and a service defined twice", () => {
    assert.throws(() => createServer({ entities: [] }), /entities is empty/);
    assert.throws(() => createServer({ entities: [two, two] }), /cloudstate\.tck\.model\.action\.ActionTwo is defined twice/);
  });

  it("listens on a free port with port 0, once, and closes", async () => {
    const server = createServer({ entities: [two], logger: silentLogger });
    const running = await server.listen({ port: 0 });
    assert.equal(running.host, "127.0.0.1");
    assert.ok(running.port > 0);
    await assert.rejects(server.listen({ port: 0 }), /already called/);
    await running.close();
    await running.close();
  });

  it("reports a port that is taken", async () => {
    const first = await createServer({ entities: [two], logger: silentLogger }).listen({ port: 0 });
    try {
      await assert.rejects(createServer({ entities: [two], logger: silentLogger }).listen({ port: first.port }));
    } finally {
      await first.close();
    }
  });
});

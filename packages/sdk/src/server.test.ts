import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
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

describe("createServer().listen({ socket })", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdk-uds-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Calls EntityDiscovery/discover over the socket with grpc-js: the server answers there. */
  const discover = (socket: string) =>
    new Promise<Buffer>((resolve, reject) => {
      const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
      client.makeUnaryRequest(
        "/cloudstate.EntityDiscovery/discover",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (error, value) => {
          client.close();
          if (error) reject(error);
          else resolve(value as Buffer);
        },
      );
    });

  it("serves on the socket, says so in the result, and removes its file on close", async () => {
    const socket = join(dir, "a.sock");
    const running = await createServer({ entities: [two], logger: silentLogger }).listen({ socket });
    assert.equal(running.socket, socket);
    assert.equal(running.host, `unix:${socket}`);
    assert.equal(running.port, 0);
    assert.ok(lstatSync(socket).isSocket());
    assert.ok((await discover(socket)).length > 0, "an EntitySpec came back over the socket");
    await running.close();
    assert.equal(existsSync(socket), false);
  });

  it("replaces a socket file nothing listens on (left by a killed server)", async () => {
    const socket = join(dir, "stale.sock");
    // A process that listens on the socket and is killed -9 leaves the file behind.
    const killed = spawnSync(
      process.execPath,
      ["-e", `require("node:net").createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, "SIGKILL"))`],
      { timeout: 20_000 },
    );
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(lstatSync(socket).isSocket(), "a dead socket file is in place");
    const running = await createServer({ entities: [two], logger: silentLogger }).listen({ socket });
    try {
      assert.ok((await discover(socket)).length > 0);
    } finally {
      await running.close();
    }
  });

  it("refuses a path that holds a regular file, or a socket another process listens on, and leaves both alone", async () => {
    const file = join(dir, "file");
    writeFileSync(file, "keep me");
    await assert.rejects(
      createServer({ entities: [two], logger: silentLogger }).listen({ socket: file }),
      /cannot listen on .*file: it exists and is not a socket/,
    );
    assert.ok(lstatSync(file).isFile());
    const socket = join(dir, "live.sock");
    const live = createNetServer();
    await new Promise<void>((resolve) => live.listen(socket, resolve));
    try {
      await assert.rejects(createServer({ entities: [two], logger: silentLogger }).listen({ socket }), /another process is listening on that socket/);
      assert.ok(lstatSync(socket).isSocket());
    } finally {
      await new Promise<void>((resolve) => live.close(() => resolve()));
    }
  });

  it("refuses socket together with tls", async () => {
    await assert.rejects(
      createServer({ entities: [two], logger: silentLogger }).listen({ socket: join(dir, "t.sock"), tls: { cert: "x", key: "y" } }),
      /socket and tls exclude each other/,
    );
  });
});

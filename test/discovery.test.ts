import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EntitySchema, EntitySpecSchema } from "@switchboard/protocol";
import { action, crdt, eventlogeventing, eventsourced, valueentity } from "@switchboard/protocol/tck";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { defaultSpec, descriptorSetOf, startModelUserFunction } from "./support/model-user-function.js";
import { SWITCHBOARD_BIN, startProxy } from "./support/proxy-process.js";

const PROCESS = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe("discovery, readiness and the command line", () => {
  it("binds at once, is alive but not ready and answers UNAVAILABLE until the user function is discovered", async () => {
    const ufPort = await freePort();
    const httpPort = await freePort();
    const proxy = await startProxy({ userFunctionPort: ufPort, httpPort, waitFor: "spawn" });
    try {
      await eventually(async () => (await httpGet(httpPort, "/alive").catch(() => ({ status: 0 }))).status === 200, 5000, "front port");
      assert.equal((await httpGet(httpPort, "/ready")).status, 503);
      const client = createTestClient(httpPort);
      const started = Date.now();
      const early = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "x" });
      assert.equal(early.code, grpc.status.UNAVAILABLE);
      assert.ok(Date.now() - started < 1000, "UNAVAILABLE within 1 s");
      const uf = await startModelUserFunction({ port: ufPort });
      await eventually(() => /switchboard ready on 127\.0\.0\.1:\d+ services: /.test(proxy.stdout()), 10_000, "ready line");
      assert.equal((await httpGet(httpPort, "/ready")).status, 200);
      const ok = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "x" });
      assert.equal(ok.code, grpc.status.OK);
      assert.equal(uf.discoverCalls.length, 1);
      const info = uf.discoverCalls[0];
      assert.equal(info?.protocolMajorVersion, 0);
      assert.equal(info?.protocolMinorVersion, 2);
      assert.deepEqual([...(info?.supportedEntityTypes ?? [])].sort(), [
        "cloudstate.action.ActionProtocol",
        "cloudstate.crdt.Crdt",
        "cloudstate.eventsourced.EventSourced",
        "cloudstate.valueentity.ValueEntity",
      ]);
      // Exactly one stdout line, listing the services.
      const lines = proxy.stdout().trim().split("\n");
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? "", /services: .*cloudstate\.tck\.model\.valueentity\.ValueEntityTckModel/);
      // Unknown paths on the front port.
      assert.equal((await httpGet(httpPort, "/nothing-here")).status, 404);
      const probe = await fetch(`http://127.0.0.1:${httpPort}/`, { headers: { "K-Network-Probe": "queue" } });
      assert.equal(probe.status, 200);
      assert.equal(await probe.text(), "queue");
      client.close();
      assert.equal(await proxy.stop(), 0, "SIGTERM drains and exits 0");
      await uf.close();
    } finally {
      await proxy.kill();
    }
  });

  it("discovers again after the user function restarts, and answers UNAVAILABLE quickly while it is down", async () => {
    const ufPort = await freePort();
    let uf = await startModelUserFunction({ port: ufPort });
    const proxy = await startProxy({ userFunctionPort: ufPort });
    const client = createTestClient(proxy.port);
    try {
      assert.equal((await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "r" })).code, grpc.status.OK);
      await uf.close();
      await eventually(
        async () => (await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "r" })).code === grpc.status.UNAVAILABLE,
        3000,
        "UNAVAILABLE",
      );
      const started = Date.now();
      const down = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "r" });
      assert.equal(down.code, grpc.status.UNAVAILABLE);
      assert.ok(Date.now() - started < 1000);
      uf = await startModelUserFunction({ port: ufPort });
      await eventually(() => uf.discoverCalls.length === 1, 10_000, "re-discovery");
      await eventually(
        async () => (await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "r" })).code === grpc.status.OK,
        5000,
        "calls work again",
      );
      assert.equal(uf.discoverCalls.length, 1, "discover called once per connection");
    } finally {
      client.close();
      await proxy.stop();
      await uf.close();
    }
  });

  it("answers UNIMPLEMENTED for unknown services and methods, and RESOURCE_EXHAUSTED for oversized requests", async () => {
    const uf = await startModelUserFunction();
    const proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--max-message-size", "1000"] });
    const client = createTestClient(proxy.port);
    try {
      const unknownService = await client.unary("/no.such.Service/Call", valueentity.RequestSchema, valueentity.ResponseSchema, { id: "a" });
      assert.equal(unknownService.code, grpc.status.UNIMPLEMENTED);
      assert.match(unknownService.details, /unknown service no\.such\.Service/);
      const unknownMethod = await client.unary(
        "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Nope",
        valueentity.RequestSchema,
        valueentity.ResponseSchema,
        { id: "a" },
      );
      assert.equal(unknownMethod.code, grpc.status.UNIMPLEMENTED);
      const big = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, {
        id: "a",
        actions: [{ action: { case: "update", value: { value: "x".repeat(5000) } } }],
      });
      assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(big.details, /exceeds the maximum of 1000 bytes/);
      const fine = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "a" });
      assert.equal(fine.code, grpc.status.OK, "the proxy keeps serving");
    } finally {
      client.close();
      await proxy.stop();
      await uf.close();
    }
  });

  it("accepts descriptor sets out of order and without well-known imports, with a warning", async () => {
    const spec = defaultSpec({
      proto: descriptorSetOf(
        [
          valueentity.file_cloudstate_tck_model_valueentity,
          action.file_cloudstate_tck_model_action,
          eventsourced.file_cloudstate_tck_model_eventsourced,
          eventlogeventing.file_cloudstate_tck_model_eventlogeventing,
        ],
        {
          reverse: true,
          omit: ["google/protobuf/descriptor.proto", "google/api/http.proto", "google/api/annotations.proto", "cloudstate/entity_key.proto"],
        },
      ),
    });
    const uf = await startModelUserFunction({ spec });
    const proxy = await startProxy({ userFunctionPort: uf.port });
    try {
      assert.match(proxy.stderr(), /WARN .*lacks "google\/api\/annotations\.proto".*using Switchboard's copy/);
      assert.match(proxy.stderr(), /WARN .*lacks "cloudstate\/entity_key\.proto"/);
      const client = createTestClient(proxy.port);
      assert.equal((await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id: "o" })).code, grpc.status.OK);
      client.close();
    } finally {
      await proxy.stop();
      await uf.close();
    }
  });

  it("accepts other 0.x protocol versions with a warning", async () => {
    const uf = await startModelUserFunction({ spec: defaultSpec({ protocolMajor: 0, protocolMinor: 0 }) });
    const proxy = await startProxy({ userFunctionPort: uf.port });
    try {
      assert.match(proxy.stderr(), /WARN .*Incompatible protocol version 0\.0, only 0\.2 is supported; continuing/);
      // No CRDT entity declared: no word about the CRDT wire.
      assert.doesNotMatch(proxy.stderr(), /CRDT wire from before 0\.2/);
    } finally {
      await proxy.stop();
      await uf.close();
    }
  });

  it("gives the CRDT entities of a user function reporting a protocol before 0.2 the older CRDT wire, and says so", async () => {
    const spec = defaultSpec({ protocolMajor: 0, protocolMinor: 0 });
    spec.proto = descriptorSetOf([valueentity.file_cloudstate_tck_model_valueentity, crdt.file_cloudstate_tck_model_crdt]);
    spec.entities = [
      create(EntitySchema, { entityType: "cloudstate.crdt.Crdt", serviceName: "cloudstate.tck.model.crdt.CrdtTckModel", persistenceId: "crdt-tck-model" }),
    ];
    const uf = await startModelUserFunction({ spec });
    const proxy = await startProxy({ userFunctionPort: uf.port });
    try {
      assert.match(
        proxy.stderr(),
        /INFO .*switchboard-test-fixture 0\.0\.0 reports protocol 0\.0: its CRDT entities get the CRDT wire from before 0\.2.*cloudstate\.tck\.model\.crdt\.CrdtTckModel/,
      );
    } finally {
      await proxy.stop();
      await uf.close();
    }
  });

  const fatalCases: [string, () => ReturnType<typeof defaultSpec>, RegExp, string[]][] = [
    [
      "another major protocol version",
      () => defaultSpec({ protocolMajor: 1, protocolMinor: 0 }),
      /Incompatible protocol version 1\.0, only 0\.2 is supported/,
      [],
    ],
    [
      "a service missing from the descriptor set",
      () => {
        const spec = defaultSpec();
        spec.entities.push(
          create(EntitySpecSchema, { entities: [{ entityType: "cloudstate.valueentity.ValueEntity", serviceName: "no.such.Service", persistenceId: "x" }] })
            .entities[0] as never,
        );
        return spec;
      },
      /service "no\.such\.Service" is not in the descriptor set/,
      [],
    ],
    [
      "a value entity without an entity key",
      () => {
        const spec = defaultSpec();
        const two = spec.entities.find((e) => e.serviceName.endsWith("action.ActionTwo"));
        if (two) two.entityType = "cloudstate.valueentity.ValueEntity";
        return spec;
      },
      /ActionTwo\.Call: input cloudstate\.tck\.model\.action\.OtherRequest has no field marked \(cloudstate\.entity_key\)/,
      [],
    ],
    [
      "a streaming value-entity method",
      () => {
        const spec = defaultSpec();
        const model = spec.entities.find((e) => e.serviceName.endsWith("action.ActionTckModel"));
        if (model) model.entityType = "cloudstate.valueentity.ValueEntity";
        return spec;
      },
      /streaming methods are not allowed/,
      [],
    ],
    [
      "a persistence id containing the journal key separator",
      () => {
        const spec = defaultSpec();
        const entity = spec.entities.find((e) => e.entityType === "cloudstate.valueentity.ValueEntity");
        if (entity) entity.persistenceId = "tenant|carts";
        return spec;
      },
      /has persistence id "tenant\|carts" containing "\|"/,
      [],
    ],
  ];
  for (const [name, makeSpec, reason, args] of fatalCases) {
    it(`reports ${name} to the user function and exits 1 with a one-line reason`, async () => {
      const uf = await startModelUserFunction({ spec: makeSpec() });
      const proxy = await startProxy({ userFunctionPort: uf.port, waitFor: "spawn", extraArgs: args });
      try {
        const [code] = (await once(proxy.child, "exit")) as [number];
        assert.equal(code, 1);
        assert.match(proxy.stderr(), new RegExp(`^switchboard: .*${reason.source}`, "m"));
        assert.ok(
          uf.reportedErrors.some((e) => reason.test(e)),
          `reportError got: ${uf.reportedErrors.join(" | ")}`,
        );
        assert.equal(proxy.stdout(), "", "never ready");
      } finally {
        await proxy.kill();
        await uf.close();
      }
    });
  }

  it("with --no-protocol-check, accepts another major version", async () => {
    const uf = await startModelUserFunction({ spec: defaultSpec({ protocolMajor: 1, protocolMinor: 0 }) });
    const proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--no-protocol-check"] });
    try {
      assert.match(proxy.readyLine, /switchboard ready on/);
    } finally {
      await proxy.stop();
      await uf.close();
    }
  });

  it("prints help and version, and rejects bad flags with exit code 2", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [SWITCHBOARD_BIN, ...args], { encoding: "utf8", env: { ...process.env, HTTP_PORT: "" } });
    const help = run("--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /switchboard start \[options\]/);
    const startHelp = run("start", "--help");
    assert.match(startHelp.stdout, /--user-function-port/);
    assert.match(startHelp.stdout, /--passivation-timeout/);
    assert.match(run("--version").stdout, /^\d+\.\d+\.\d+\n$/);
    for (const [args, message] of [
      [["start", "--http-port", "99999"], /--http-port must be a port number/],
      [["start", "--bind", "localhost"], /not "localhost"/],
      [["start", "--store", "redis://x"], /--store must be "memory", "sqlite:<path>" or "postgres:\/\/\.\.\."/],
      [["start", "--relay-timeout", "-5"], /--relay-timeout/],
      [["start", "--bogus"], /Unknown option '--bogus'/],
      [["frobnicate"], /unknown command "frobnicate"/],
    ] as const) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });
});

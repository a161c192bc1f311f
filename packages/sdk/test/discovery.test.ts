import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createFileRegistry, fromBinary, getOption } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { http } from "@switchboard/protocol";
import { SDK_VERSION } from "../src/index.js";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import { crdtModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";
import { eventSourcedModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";
import { tckModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";

describe("EntityDiscovery on a real SDK server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(tckModelEntities);
  });
  after(() => h.close());

  it("describes every entity with its type, persistence id and passivation strategy", async () => {
    const spec = await h.client.discover();
    const entities = spec.entities.map((e) => ({
      type: e.entityType,
      service: e.serviceName,
      persistenceId: e.persistenceId,
      timeout: e.passivationStrategy?.strategy.case === "timeout" ? e.passivationStrategy.strategy.value.timeout : undefined,
    }));
    assert.deepEqual(entities, [
      { type: "cloudstate.action.ActionProtocol", service: "cloudstate.tck.model.action.ActionTckModel", persistenceId: "", timeout: undefined },
      { type: "cloudstate.action.ActionProtocol", service: "cloudstate.tck.model.action.ActionTwo", persistenceId: "", timeout: undefined },
      {
        type: "cloudstate.valueentity.ValueEntity",
        service: "cloudstate.tck.model.valueentity.ValueEntityTckModel",
        persistenceId: "value-entity-tck-model",
        timeout: undefined,
      },
      {
        type: "cloudstate.valueentity.ValueEntity",
        service: "cloudstate.tck.model.valueentity.ValueEntityTwo",
        persistenceId: "value-entity-tck-model-two",
        timeout: undefined,
      },
      {
        type: "cloudstate.valueentity.ValueEntity",
        service: "cloudstate.tck.model.valueentity.ValueEntityConfigured",
        persistenceId: "value-entity-configured",
        timeout: 100n,
      },
    ]);
  });

  it("sends service info with protocol 0.2", async () => {
    const { serviceInfo } = await h.client.discover();
    assert.ok(serviceInfo);
    assert.equal(serviceInfo.protocolMajorVersion, 0);
    assert.equal(serviceInfo.protocolMinorVersion, 2);
    assert.equal(serviceInfo.supportLibraryName, "switchboard-typescript-sdk");
    assert.equal(serviceInfo.supportLibraryVersion, SDK_VERSION);
    assert.equal(serviceInfo.serviceRuntime, `node ${process.versions.node}`);
    assert.equal(serviceInfo.serviceName, "sdk-test");
    assert.equal(serviceInfo.serviceVersion, "1.2.3");
  });

  it("sends a descriptor set with all imports, dependencies first, that resolves every service", async () => {
    const spec = await h.client.discover();
    const set = fromBinary(FileDescriptorSetSchema, spec.proto);
    const names = set.file.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, "no file twice");
    // Every import appears before the file importing it.
    for (const [i, file] of set.file.entries()) {
      for (const dependency of file.dependency) {
        const at = names.indexOf(dependency);
        assert.ok(at >= 0 && at < i, `${dependency} (imported by ${file.name}) comes first`);
      }
    }
    for (const required of [
      "google/protobuf/descriptor.proto",
      "google/api/http.proto",
      "google/api/annotations.proto",
      "cloudstate/entity_key.proto",
      "cloudstate/tck/model/action.proto",
      "cloudstate/tck/model/valueentity.proto",
    ]) {
      assert.ok(names.includes(required), `${required} is in the set`);
    }
    // createFileRegistry throws on a missing import.
    const registry = createFileRegistry(set);
    for (const entity of spec.entities) {
      assert.ok(registry.getService(entity.serviceName), `${entity.serviceName} resolves`);
    }
    // Options survive: the HTTP rule of ValueEntityTckModel.Process.
    const process = registry.getService("cloudstate.tck.model.valueentity.ValueEntityTckModel")?.method.process;
    assert.ok(process);
    const rule = getOption(process, http);
    assert.equal(rule.pattern.case, "post");
    assert.equal(rule.pattern.value, "/tck/model/entity/{id}");
  });

  it("logs errors the proxy reports", async () => {
    await h.client.reportError("Unknown forward target a.B/C");
    assert.ok(h.logs.some((l) => l.level === "error" && l.message.includes("Unknown forward target a.B/C")));
  });

  it("warns when the proxy speaks another protocol version, and still answers", async () => {
    const spec = await h.client.discover({ protocolMajorVersion: 0, protocolMinorVersion: 1 });
    assert.equal(spec.entities.length, 5);
    assert.ok(h.logs.some((l) => l.level === "warn" && l.message.includes("protocol 0.1")));
  });
});

describe("EntityDiscovery with event-sourced and CRDT entities", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([...eventSourcedModelEntities, ...crdtModelEntities]);
  });
  after(() => h.close());

  it("describes them with their entity types, persistence ids and passivation strategies", async () => {
    const spec = await h.client.discover();
    const entities = spec.entities.map((e) => [
      e.entityType,
      e.serviceName,
      e.persistenceId,
      e.passivationStrategy?.strategy.case === "timeout" ? e.passivationStrategy.strategy.value.timeout : undefined,
    ]);
    assert.deepEqual(entities, [
      ["cloudstate.eventsourced.EventSourced", "cloudstate.tck.model.EventSourcedTckModel", "event-sourced-tck-model", undefined],
      ["cloudstate.eventsourced.EventSourced", "cloudstate.tck.model.EventSourcedTwo", "event-sourced-tck-model-two", undefined],
      ["cloudstate.eventsourced.EventSourced", "cloudstate.tck.model.EventSourcedConfigured", "event-sourced-configured", 100n],
      // A CRDT entity's persistence id defaults to its service name.
      ["cloudstate.crdt.Crdt", "cloudstate.tck.model.crdt.CrdtTckModel", "cloudstate.tck.model.crdt.CrdtTckModel", undefined],
      ["cloudstate.crdt.Crdt", "cloudstate.tck.model.crdt.CrdtTwo", "cloudstate.tck.model.crdt.CrdtTwo", undefined],
      ["cloudstate.crdt.Crdt", "cloudstate.tck.model.crdt.CrdtConfigured", "cloudstate.tck.model.crdt.CrdtConfigured", 100n],
    ]);
    const set = fromBinary(FileDescriptorSetSchema, spec.proto);
    const registry = createFileRegistry(set);
    for (const entity of spec.entities) assert.ok(registry.getService(entity.serviceName), `${entity.serviceName} resolves`);
    assert.ok(registry.getMessage("cloudstate.tck.model.Persisted"), "the event and state type is described");
  });
});

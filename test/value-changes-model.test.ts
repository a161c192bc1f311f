/**
 * What discovery makes of Switchboard's own `(switchboard.eventing)` option: which value
 * entities record their changes, the misuses it refuses, and the cluster fingerprint that
 * keeps nodes disagreeing about it apart.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clone, create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { EntitySchema } from "@switchboard/protocol";
import { servicesFingerprint } from "../packages/proxy/src/cluster/services-fingerprint.js";
import { buildServiceModel } from "../packages/proxy/src/descriptors/service-model.js";
import { descriptorSetOf } from "./support/model-user-function.js";
import { file_switchboard_test_topics_counters } from "./topics/gen/switchboard/test/topics/counters_pb.js";
import { file_switchboard_test_topics_counters_misuse } from "./topics/gen/switchboard/test/topics/counters_misuse_pb.js";

const fileSet = fromBinary(FileDescriptorSetSchema, descriptorSetOf([file_switchboard_test_topics_counters, file_switchboard_test_topics_counters_misuse]));
const VALUE = "cloudstate.valueentity.ValueEntity";
const ACTION = "cloudstate.action.ActionProtocol";
const entity = (serviceName: string, entityType: string, persistenceId = "") => create(EntitySchema, { serviceName, entityType, persistenceId });
const counter = entity("switchboard.test.topics.Counter", VALUE, "counters");

describe("(switchboard.eventing) at discovery", () => {
  it("marks the value entity whose changes a method consumes, and no other", () => {
    const built = buildServiceModel(fileSet, [counter, entity("switchboard.test.topics.CounterFeed", ACTION)]);
    assert.equal(built.error, undefined);
    assert.equal(built.model?.services.get("switchboard.test.topics.Counter")?.recordsChanges, true);
    const alone = buildServiceModel(fileSet, [counter]);
    assert.equal(alone.model?.services.get("switchboard.test.topics.Counter")?.recordsChanges, undefined);
  });

  it("refuses a consumer of a persistence id that no value entity has", () => {
    const built = buildServiceModel(fileSet, [entity("switchboard.test.topics.CounterFeed", ACTION)]);
    assert.match(
      built.error ?? "",
      /CounterFeed\.Changed consumes the changes of value entity "counters" .*no value entity of this user function has that persistence id/,
    );
  });

  it("refuses two methods of one consumer group taking the same type from one value entity", () => {
    const built = buildServiceModel(fileSet, [counter, entity("switchboard.test.topics.misuse.Clashing", ACTION)]);
    assert.match(
      built.error ?? "",
      /Clashing\.First and switchboard\.test\.topics\.misuse\.Clashing\.Second both consume switchboard\.test\.topics\.CounterState from value entity "counters" in consumer group "switchboard\.test\.topics\.misuse\.Clashing"; set consumer_group/,
    );
  });

  it("refuses an in that names no value entity", () => {
    const built = buildServiceModel(fileSet, [counter, entity("switchboard.test.topics.misuse.Nameless", ACTION)]);
    assert.match(built.error ?? "", /Nameless\.Changed: \(switchboard\.eventing\)\.in names no value_entity/);
  });

  it("gives nodes that disagree about consuming changes different service fingerprints", () => {
    const fingerprint = (set: typeof fileSet) => {
      const { model, error } = buildServiceModel(set, [counter, entity("switchboard.test.topics.CounterFeed", ACTION)]);
      assert.ok(model !== undefined, error);
      return servicesFingerprint(model);
    };
    // The same services and methods, but CounterFeed's methods without their options: an older build of the user function.
    const older = clone(FileDescriptorSetSchema, fileSet);
    const feed = older.file.find((f) => f.name === "switchboard/test/topics/counters.proto")?.service.find((s) => s.name === "CounterFeed");
    assert.ok(feed !== undefined);
    for (const method of feed.method) method.options = undefined;
    assert.equal(fingerprint(fileSet), fingerprint(clone(FileDescriptorSetSchema, fileSet)));
    assert.notEqual(fingerprint(fileSet), fingerprint(older));
  });
});

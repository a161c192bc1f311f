import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EVENTING_DEFAULTS, parseDuration, parseEventing } from "./eventing.js";

const parse = (values: Record<string, string>, env: Record<string, string> = {}) => parseEventing(values, (flag, name) => flag ?? env[name]);

describe("eventing flags", () => {
  it("reads durations with units or as bare milliseconds", () => {
    assert.equal(parseDuration("500"), 500);
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("90s"), 90_000);
    assert.equal(parseDuration("30m"), 1_800_000);
    assert.equal(parseDuration("12h"), 43_200_000);
    assert.equal(parseDuration("7d"), 604_800_000);
    for (const bad of ["", "7 days", "1.5h", "-1s", "h", "99999999999999999d"]) assert.equal(parseDuration(bad), undefined, bad);
  });

  it("keeps messages forever by default and checks retention every minute when limited", () => {
    assert.deepEqual(parse({}), EVENTING_DEFAULTS);
    assert.deepEqual(parse({ "topic-retention": "2h", "topic-retention-bytes": "4096" }), {
      ...EVENTING_DEFAULTS,
      topicRetentionMs: 7_200_000,
      topicRetentionBytes: 4096,
    });
    assert.deepEqual(parse({}, { TOPIC_RETENTION: "45s", TOPIC_RETENTION_CHECK: "100" }), {
      ...EVENTING_DEFAULTS,
      topicRetentionMs: 45_000,
      topicRetentionCheckMs: 100,
    });
  });

  it("says what is wrong with a bad retention flag", () => {
    assert.match(String(parse({ "topic-retention": "a week" })), /--topic-retention must be a positive duration .* got "a week"/);
    assert.match(String(parse({ "topic-retention": "0" })), /--topic-retention must be a positive duration/);
    assert.match(String(parse({ "topic-retention-bytes": "1k" })), /--topic-retention-bytes must be a whole number of bytes/);
    assert.match(String(parse({ "topic-retention-check": "0" })), /--topic-retention-check must be a whole number of milliseconds/);
  });
});

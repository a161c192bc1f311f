import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadCatalogue, parseCatalogue, UPSTREAM_CASE_COUNT } from "./catalogue.js";
import { loadFeatures, parseFeatures } from "./features.js";
import { knownFailuresFor, parseKnownFailures } from "./known-failures.js";
import { portedTests, SUITES } from "./runner.js";
import { readFileSync } from "node:fs";

describe("catalogue", () => {
  const catalogue = loadCatalogue();

  test("names the 186 upstream cases with the upstream counts per area", () => {
    const upstream = catalogue.filter((c) => c.upstream);
    assert.equal(upstream.length, UPSTREAM_CASE_COUNT);
    const count = (area: string, kind: string) => upstream.filter((c) => c.area === area && c.kind === kind).length;
    assert.deepEqual(
      [
        count("Discovery", "proxy"),
        count("ES", "model"),
        count("ES", "proxy"),
        count("VE", "model"),
        count("VE", "proxy"),
        count("Action", "model"),
        count("Action", "proxy"),
        count("CRDT", "model"),
        count("CRDT", "proxy"),
        count("Eventing", "proxy"),
      ],
      [2, 21, 5, 19, 5, 34, 9, 82, 6, 3],
    );
  });

  test("every test of every suite is catalogued, once", () => {
    const tests = portedTests(catalogue, SUITES);
    assert.equal(catalogue.filter((c) => c.upstream && tests.has(c.id)).length, UPSTREAM_CASE_COUNT);
  });

  test("a test missing from the catalogue is refused", () => {
    assert.throws(
      () => portedTests(catalogue, [{ area: "ES", tests: [{ kind: "proxy", name: "made up", run: async () => {} }] }]),
      /"ES proxy: made up" is not in catalogue.json/,
    );
  });

  test("duplicate cases are refused", () => {
    const one = { area: "ES", kind: "proxy", name: "x", services: [] };
    assert.throws(() => parseCatalogue(JSON.stringify({ cases: [one, one], smoke: [] })), /duplicate case "ES proxy: x"/);
  });
});

describe("known failures", () => {
  const ids = new Set(["ES proxy: failures", "CRDT proxy: HTTP API"]);

  test("parses sections with a reason per case, [all] applying to every support", () => {
    const sections = parseKnownFailures(
      "# comment\n[all]\nCRDT proxy: HTTP API | no transcoding yet\n\n[go-support]\nES proxy: failures | restart | not honoured\n",
      ids,
    );
    const known = knownFailuresFor(sections, "go-support");
    assert.equal(known.get("CRDT proxy: HTTP API"), "no transcoding yet");
    assert.equal(known.get("ES proxy: failures"), "restart | not honoured");
    assert.equal(knownFailuresFor(sections, "node-support").size, 1);
  });

  test("refuses a case without a reason, an unknown case, or a case outside a section", () => {
    assert.throws(() => parseKnownFailures("[go-support]\nES proxy: failures\n", ids), /line 2: expected "<case> \| <reason>"/);
    assert.throws(() => parseKnownFailures("[go-support]\nES proxy: failures | \n", ids), /expected "<case> \| <reason>"|has no reason/);
    assert.throws(() => parseKnownFailures("[go-support]\nES proxy: nope | reason\n", ids), /unknown case "ES proxy: nope"/);
    assert.throws(() => parseKnownFailures("ES proxy: failures | reason\n", ids), /before any \[support\] section/);
  });

  test("the shipped known-failures.txt parses against the catalogue", () => {
    const text = readFileSync(new URL("../known-failures.txt", import.meta.url), "utf8");
    parseKnownFailures(text, new Set(loadCatalogue().map((c) => c.id)));
  });
});

describe("features", () => {
  test("parses the YAML subset", () => {
    assert.deepEqual(parseFeatures("# x\nproxy: switchboard\nareas:\n  ES: supported # inline\n  CRDT: planned\n"), {
      proxy: "switchboard",
      areas: { ES: "supported", CRDT: "planned" },
    });
    assert.throws(() => parseFeatures("  ES: supported\n"), /line 1: indented entry outside a section/);
  });

  test("the shipped features.yaml claims every area", () => {
    const areas = loadFeatures().areas;
    assert.equal(typeof areas, "object");
    for (const area of ["Discovery", "ES", "VE", "Action", "CRDT", "Eventing", "Shopping cart"]) assert.ok(area in (areas as object), area);
  });
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseConfig } from "./config.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../../bin/switchboard.mjs");

describe("--store", () => {
  it("refuses SQLite's in-memory database with a one-line reason naming --store memory", () => {
    for (const argv of [
      ["--store", "sqlite::memory:"],
      ["--store", "sqlite:file::memory:?cache=shared"],
      ["--store", "sqlite:file:x?mode=memory"],
    ]) {
      assert.match(parseConfig(argv, {}).error ?? "", /^--store sqlite::memory: is not durable and is refused; use --store memory/, argv.join(" "));
    }
    assert.match(parseConfig([], { DATABASE_URL: "sqlite::memory:" }).error ?? "", /^DATABASE_URL: --store sqlite::memory: is not durable/);
    assert.deepEqual(parseConfig(["--store", "sqlite:data/memory.db"], {}).config?.store, { kind: "sqlite", path: "data/memory.db" });
    assert.deepEqual(parseConfig(["--store", "memory"], {}).config?.store, { kind: "memory" });
  });

  it("makes switchboard start exit with the usage status (2) and that reason on its first line", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--store", "sqlite::memory:", "--user-function-port", "1", "--http-port", "0"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 2, run.stderr);
    const [first] = run.stderr.trim().split("\n");
    assert.match(first ?? "", /^switchboard: --store sqlite::memory: is not durable and is refused; use --store memory/);
    assert.equal(run.stdout, "");
  });
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { clusterStoreError } from "./cluster.js";
import { parseConfig } from "./config.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../../bin/switchboard.mjs");
const MACHINE = { hostname: "box", randomSuffix: () => "r4nd0m" };
const PG = ["--store", "postgres://u@127.0.0.1:5432/db"];

describe("cluster flags", () => {
  it("are off without a cluster port", () => {
    assert.equal(parseConfig(PG, {}, MACHINE).config?.cluster, undefined);
  });

  it("turn cluster mode on with --cluster-port or CLUSTER_PORT, with defaults from the machine", () => {
    assert.deepEqual(parseConfig([...PG, "--cluster-port", "7000"], {}, MACHINE).config?.cluster, {
      port: 7000,
      nodeId: "box-r4nd0m",
      advertiseHost: "box",
      leaseTtlMs: 5000,
    });
    assert.deepEqual(parseConfig([...PG, "--bind", "10.0.0.5"], { CLUSTER_PORT: "7001", NODE_ID: "n1", ADVERTISE_HOST: "pod-1.sb" }, MACHINE).config?.cluster, {
      port: 7001,
      nodeId: "n1",
      advertiseHost: "pod-1.sb",
      leaseTtlMs: 5000,
    });
    // Binding one address: others reach us there.
    assert.equal(
      parseConfig([...PG, "--bind", "127.0.0.1", "--cluster-port", "0", "--lease-ttl", "1500"], {}, MACHINE).config?.cluster?.advertiseHost,
      "127.0.0.1",
    );
    assert.equal(parseConfig([...PG, "--cluster-port", "0", "--lease-ttl", "1500"], {}, MACHINE).config?.cluster?.leaseTtlMs, 1500);
    // Flags win over the environment.
    assert.equal(
      parseConfig([...PG, "--cluster-port", "7002", "--node-id", "flag"], { CLUSTER_PORT: "1", NODE_ID: "env" }, MACHINE).config?.cluster?.nodeId,
      "flag",
    );
  });

  it("refuse bad values with a one-line reason", () => {
    const error = (argv: string[], env = {}) => parseConfig([...PG, ...argv], env, MACHINE).error ?? "";
    assert.match(error(["--cluster-port", "70000"]), /^--cluster-port must be a port number/);
    assert.match(error([], { CLUSTER_PORT: "x" }), /^CLUSTER_PORT must be a port number/);
    assert.match(error(["--cluster-port", "1", "--lease-ttl", "10"]), /^--lease-ttl must be a whole number of milliseconds, at least 500/);
    assert.match(error(["--cluster-port", "1", "--node-id", "a b"]), /^--node-id must be/);
    assert.match(error([], { CLUSTER_PORT: "1", LEASE_TTL: "soon" }), /^LEASE_TTL must be a whole number/);
    // Without a cluster port the other cluster settings are ignored (a deployment may set NODE_ID everywhere).
    assert.equal(parseConfig([...PG, "--node-id", "n1"], {}, MACHINE).config?.cluster, undefined);
  });

  it("need a PostgreSQL store", () => {
    const memory = parseConfig(["--store", "memory", "--cluster-port", "0"], {}, MACHINE).config;
    assert.match(clusterStoreError(memory?.cluster, memory?.store.kind ?? "") ?? "", /needs a PostgreSQL store/);
    const pg = parseConfig([...PG, "--cluster-port", "0"], {}, MACHINE).config;
    assert.equal(clusterStoreError(pg?.cluster, pg?.store.kind ?? ""), undefined);
  });

  it("make switchboard start exit 1 with one line when the store is not PostgreSQL", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--store", "memory", "--cluster-port", "0", "--user-function-port", "1", "--http-port", "0"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr, "switchboard: cluster mode (--cluster-port) needs a PostgreSQL store (--store postgres://...), got a memory store\n");
  });

  it("are in the help of switchboard start", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--help"], { encoding: "utf8", timeout: 30_000 });
    for (const flag of ["--cluster-port", "--node-id", "--advertise-host", "--lease-ttl", "CLUSTER_PORT", "NODE_ID", "ADVERTISE_HOST"])
      assert.ok(run.stdout.includes(flag), flag);
  });
});

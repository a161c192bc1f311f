#!/usr/bin/env node
// Runs one test suite with Node's test runner (+ tsx for TypeScript).
//
//   unit         every suite that needs only Node and this repository (npm test)
//   postgres     suites that start a throw-away PostgreSQL server (npm run test:postgres)
//   conformance  the TCK against the language supports, and tests that need external
//                tools such as grpcurl or Chromium (npm run test:conformance)
//   cluster      three real nodes on a throw-away PostgreSQL under load, with kill -9,
//                SIGSTOP, graceful leave and join (npm run test:cluster)
//   fuzz         seeded fuzzing of the front port (npm run test:fuzz; FUZZ_SEED, FUZZ_SCALE)
//   eventing     topics end to end: the embedded broker and NATS JetStream (a real nats-server -js)
//                through real processes (npm run test:eventing)
//
// Paths after the suite's name narrow it to the files under them.
//
// Node 20's --test neither expands globs nor finds .ts files, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const suite = process.argv[2] ?? "unit";
/** Further arguments keep only the suite's files under these paths (e.g. `unit test/demo.test.ts packages/sdk`). */
const only = process.argv.slice(3).map((p) => p.replace(/\/+$/, ""));

/** Folders (relative to the root) whose tests belong to a suite other than `unit`. */
const SUITE_DIRS = {
  postgres: ["test/postgres"],
  cluster: ["test/cluster"],
  conformance: ["test/external", "test/conformance"],
  fuzz: ["test/fuzz"],
  eventing: ["test/topics"],
};
const OTHER = Object.values(SUITE_DIRS).flat();

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    // Project templates (packages/create-switchboard/templates) are tested where they are used: npm run test:outside.
    if (name === "node_modules" || name === "dist" || name === "templates" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const all = ["packages", "examples", "test"].flatMap((d) => walk(join(root, d), []));
const inSuite = (file, dirs) => dirs.some((d) => file.startsWith(`${d}/`));
const files = (suite === "unit" ? all.filter((f) => !inSuite(f, OTHER)) : all.filter((f) => inSuite(f, SUITE_DIRS[suite] ?? []))).filter(
  (f) => only.length === 0 || only.some((p) => f === p || f.startsWith(`${p}/`)),
);
if (!(suite in SUITE_DIRS) && suite !== "unit") {
  console.error(`unknown suite "${suite}"; expected unit, postgres, cluster, conformance, fuzz or eventing`);
  process.exit(2);
}
if (files.length === 0) {
  console.error(`no test files found for suite "${suite}"${only.length > 0 ? ` under ${only.join(", ")}` : ""}`);
  process.exit(1);
}
console.log(`running ${files.length} test files (${suite})`);
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);

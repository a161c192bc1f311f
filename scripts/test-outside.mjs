#!/usr/bin/env node
// `npm run test:outside`: what a user does with the published packages, in a folder outside
// this repository, with the packed tarballs in place of the registry. For each template:
//
//   npm create switchboard <dir> -- --template <t>   (create-switchboard from its tarball)
//   npm install <tarballs>                         (@switchboard/protocol, sdk, proxy)
//   npm run generate                               (the shipped code comes out the same)
//   npm test                                       (type check, unit test, end-to-end test)
//   npm start                                      (HTTP_PORT / USER_FUNCTION_PORT on free ports)
//   HTTP/JSON call, gRPC call, switchboard list    (then Ctrl-C: exits 0)
//
// better-sqlite3 would compile from source on install (its prebuilt binaries live on GitHub,
// which this machine cannot reach): the binary this repository's `npm ci` built for the same
// version and Node ABI is offered as a local prebuild instead, which is what prebuild-install
// finds on a user's machine. The first project installs; the next ones start from a copy of
// its node_modules so `npm install` finds everything in place (same dependencies).
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const TEMPLATES = (process.argv[2] ?? "value-entity,event-sourced,crdt,action").split(",");
const PACKAGES = ["@switchboard/protocol", "@switchboard/sdk", "@switchboard/proxy", "create-switchboard"];
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), "switchboard-outside-"));
if (work.startsWith(root)) throw new Error(`${work} is inside the repository`);
const log = (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
const npmEnv = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };
delete npmEnv.npm_config_prefix;
delete npmEnv.INIT_CWD;

/**
 * Packs the repository's compiled better-sqlite3 as the prebuild prebuild-install looks for
 * (`<name>-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`) and points npm at it.
 */
function offerLocalPrebuild() {
  const pkg = join(root, "node_modules/better-sqlite3");
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  const dir = join(work, "prebuilds");
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync("tar", ["-czf", join(dir, name), "-C", pkg, "build/Release/better_sqlite3.node"]);
  npmEnv.npm_config_better_sqlite3_local_prebuilds = dir;
  log(`better-sqlite3 ${version}: offered the repository's binary as a local prebuild (${name})`);
}

function run(cwd, command, args, env = {}) {
  try {
    return execFileSync(command, args, { cwd, env: { ...npmEnv, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${error.stdout}\n${error.stderr}`);
  }
}

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** `npm start` in the project until ready, the calls a client makes, then Ctrl-C. */
async function startAndCall(dir, template, info) {
  const httpPort = await freePort();
  const ufPort = await freePort();
  const child = spawn("npm", ["start"], {
    cwd: dir,
    env: { ...npmEnv, HTTP_PORT: String(httpPort), USER_FUNCTION_PORT: String(ufPort) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exited = once(child, "exit");
  try {
    const deadline = Date.now() + 60_000;
    while (!/switchboard ready on \S+:(\d+) services: /.test(out)) {
      check(child.exitCode === null, `npm start exited early:\n${out}\n${err}`);
      check(Date.now() < deadline, `npm start not ready within 60 s:\n${out}\n${err}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    check(out.includes(`switchboard ready on 0.0.0.0:${httpPort} `), `the proxy listens on HTTP_PORT ${httpPort}: ${out}`);
    check(err.includes(`listening on 127.0.0.1:${ufPort} `), `the user function listens on USER_FUNCTION_PORT ${ufPort}: ${err}`);

    const response = await fetch(`http://127.0.0.1:${httpPort}${info.http.path}`, {
      method: info.http.method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(info.http.body),
    });
    const body = await response.text();
    check(response.status === 200, `HTTP ${info.http.method} ${info.http.path}: ${response.status} ${body}`);
    check(JSON.stringify(JSON.parse(body)) === JSON.stringify(info.http.expected), `HTTP answer ${body}, expected ${JSON.stringify(info.http.expected)}`);

    // gRPC, with the project's own generated code and the SDK testkit's client.
    const script = `
      import { fromJson, toJson } from "@bufbuild/protobuf";
      import { grpcTestClient } from "@switchboard/sdk/testing";
      const gen = await import(${JSON.stringify(`./${info.grpc.module}`)});
      const service = gen[${JSON.stringify(info.grpc.service)}];
      const method = service.method[${JSON.stringify(info.grpc.method)}];
      const client = grpcTestClient(service, "127.0.0.1:${httpPort}");
      const reply = await client.call(${JSON.stringify(info.grpc.method)}, fromJson(method.input, ${JSON.stringify(info.grpc.request)}));
      client.close();
      console.log(JSON.stringify(toJson(method.output, reply)));`;
    const grpcAnswer = run(dir, process.execPath, ["--input-type=module", "-e", script]).trim();
    check(grpcAnswer === JSON.stringify(info.grpc.expected), `gRPC answer ${grpcAnswer}, expected ${JSON.stringify(info.grpc.expected)}`);

    const listing = run(dir, "npx", ["--no-install", "switchboard", "list", "--address", `127.0.0.1:${httpPort}`]);
    check(listing.split("\n")[0]?.includes(info.grpc.service), `switchboard list: ${listing}`);
    log(
      `${template}: npm start on ${httpPort}/${ufPort}, HTTP ${info.http.method} ${info.http.path} ✓, gRPC ${info.grpc.service}.${info.grpc.method} ✓, list ✓`,
    );
  } finally {
    if (child.exitCode === null) process.kill(-child.pid, "SIGINT");
    const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 10_000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    check(code === 0 || signal === "SIGINT", `npm start did not stop cleanly on Ctrl-C (${signal ?? code}):\n${err}`);
    check(!/ WARN | ERROR /.test(err), `npm start logged a warning or error:\n${err}`);
  }
}

let failed = 0;
try {
  offerLocalPrebuild();
  mkdirSync(join(work, "packs"));
  log(`packing ${PACKAGES.join(", ")} into ${work}/packs`);
  const packed = JSON.parse(run(root, "npm", ["pack", "--json", "--pack-destination", join(work, "packs"), ...PACKAGES.flatMap((p) => ["-w", p])]));
  const tarball = (name) => join(work, "packs", packed.find((p) => p.name === name).filename);
  let seed;
  for (const template of TEMPLATES) {
    const dir = join(work, `my-${template}`);
    try {
      run(work, "npm", ["exec", "--yes", "--package", tarball("create-switchboard"), "--", "create-switchboard", dir, "--template", template]);
      if (seed !== undefined) {
        cpSync(join(seed, "node_modules"), join(dir, "node_modules"), { recursive: true, verbatimSymlinks: true });
        cpSync(join(seed, "package-lock.json"), join(dir, "package-lock.json"));
      }
      // One install: the tarballs replace the registry ranges of the three packages in package.json.
      run(dir, "npm", ["install", tarball("@switchboard/protocol"), tarball("@switchboard/sdk"), tarball("@switchboard/proxy")]);
      const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
      for (const name of ["@switchboard/protocol", "@switchboard/sdk", "@switchboard/proxy"]) {
        const entry = lock.packages[`node_modules/${name}`];
        check(entry?.resolved?.startsWith("file:"), `${name} must come from its tarball, got ${entry?.resolved}`);
      }
      log(`${template}: created and installed from the tarballs`);
      const before = readdirSync(join(dir, "src/gen")).map((f) => readFileSync(join(dir, "src/gen", f), "utf8"));
      run(dir, "npm", ["run", "generate"]);
      const after = readdirSync(join(dir, "src/gen")).map((f) => readFileSync(join(dir, "src/gen", f), "utf8"));
      check(JSON.stringify(before) === JSON.stringify(after), "npm run generate reproduces the shipped generated code");
      const tests = run(dir, "npm", ["test"]);
      const summary = /# pass (\d+)\n# fail (\d+)/.exec(tests);
      check(summary !== null && summary[2] === "0" && Number(summary[1]) > 0, `npm test:\n${tests}`);
      log(`${template}: npm run generate ✓, npm test ✓ (${summary[1]} tests)`);
      const info = JSON.parse(readFileSync(join(root, "packages/create-switchboard/templates", template, "template.json"), "utf8"));
      await startAndCall(dir, template, info);
      seed ??= dir;
    } catch (error) {
      failed++;
      console.error(`${template}: FAILED\n${error.message}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const passed = TEMPLATES.length - failed;
log("done");
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

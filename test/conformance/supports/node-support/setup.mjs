#!/usr/bin/env node
// Prepares node-support as published (npm `cloudstate@0.0.3`) for conformance runs, in the
// git-ignored cache `.tck/node-support/` at the repository root. Nothing installed here is
// committed: the package comes from the npm registry at setup time.
//
// What the published package needs on Node 20, and what this script does about it:
//   * its `engines` says Node ~12                -> install with --engine-strict=false;
//   * its postinstall downloads protoc from GitHub -> install with --ignore-scripts, and link
//     Debian's protoc (`protobuf-compiler`) and well-known protos (`libprotobuf-dev`) where
//     the package looks for them (`node_modules/cloudstate/protoc/{bin,include}`);
//   * it depends on the native `grpc` (no build for Node 20) -> an npm override replaces it
//     with a small shim over `@grpc/grpc-js`, written by this script;
//   * `request`, `unzipper`, `mkdirp` and `rimraf` serve only that protoc download -> an
//     override replaces them with an empty stub, which keeps the install small and fast;
//   * it reads `user-function.desc` (a FileDescriptorSet) from the working directory -> this
//     script compiles one per user function with protoc, into `.tck/node-support/<name>/`.
//
// Idempotent: a stamp records what was installed and compiled; a re-run with the same inputs
// only checks the stamp (well under a second). Every failure names its step.
//
// Usage: node test/conformance/supports/node-support/setup.mjs   (or import { setup }).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync, readlinkSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = resolve(HERE, "../../../..");
/** The support's cache directory. */
export const CACHE_DIR = join(process.env.SWITCHBOARD_TCK_CACHE ? resolve(process.env.SWITCHBOARD_TCK_CACHE) : join(REPO_ROOT, ".tck"), "node-support");

/** Exact versions installed. */
export const CLOUDSTATE_VERSION = "0.0.3";
export const GRPC_JS_VERSION = "1.14.7";

/** The user functions of this support: the directory each runs in and what its descriptor holds. */
export const USER_FUNCTIONS = {
  "tck-model": {
    packageName: "switchboard-node-support-tck-model",
    protos: ["cloudstate/tck/model/eventsourced.proto"],
  },
  "shopping-cart": {
    packageName: "switchboard-node-support-shopping-cart",
    protos: ["shoppingcart/shoppingcart.proto", "shoppingcart/persistence/domain.proto"],
  },
};

/** The proto roots of this repository, in include order. */
export const PROTO_ROOTS = ["protocols/tck", "protocols/example", "packages/protocol/proto", "protocols/protocol"].map((p) => join(REPO_ROOT, p));

// The shim that stands in for the native `grpc` package. cloudstate 0.0.3 uses, from `grpc`:
// `new Server()`, `server.addService`, `server.bind(address, credentials)` (synchronous, returns
// the port), `server.start()`, `server.tryShutdown`, `ServerCredentials.createInsecure()`,
// `loadPackageDefinition`, and `new Metadata()` (stateless functions only). grpc-js has all of
// these except the synchronous bind; and since grpc-js 1.10 a server serves as soon as it is
// bound, so `start()` has nothing left to do.
const SHIM_INDEX = `"use strict";
// Written by test/conformance/supports/node-support/setup.mjs: the parts of the native grpc
// package that cloudstate 0.0.3 uses, over @grpc/grpc-js.
const grpcJs = require("@grpc/grpc-js");

class Server extends grpcJs.Server {
  /**
   * The native synchronous bind. grpc-js binds asynchronously, so this returns the requested
   * port at once (the caller only logs it) and ends the process if the bind then fails, as
   * the native bind would have thrown.
   */
  bind(address, credentials) {
    const requested = Number(String(address).slice(String(address).lastIndexOf(":") + 1));
    this.bindAsync(address, credentials, (error, port) => {
      if (error) {
        console.error("grpc shim: cannot bind " + address + ": " + error.message);
        process.exit(1);
      }
      this.boundPort = port;
      console.log("grpc shim: serving on " + address.slice(0, address.lastIndexOf(":")) + ":" + port);
    });
    return requested;
  }

  /** grpc-js serves once bound. */
  start() {}
}

module.exports = Object.assign({}, grpcJs, { Server });
`;

const SHIM_PACKAGE = {
  name: "grpc",
  version: "1.24.3-grpc-js-shim",
  description: "Stand-in for the native grpc package over @grpc/grpc-js (written by the Switchboard TCK setup)",
  main: "index.js",
  dependencies: { "@grpc/grpc-js": GRPC_JS_VERSION },
};

const UNUSED_INDEX = `"use strict";
throw new Error("not installed: only cloudstate 0.0.3's protoc downloader (bin/download-protoc.js) needs this package");
`;

const UNUSED_PACKAGE = { name: "unused-by-cloudstate-runtime", version: "0.0.0", main: "index.js" };

const CACHE_PACKAGE = {
  name: "switchboard-node-support-cache",
  private: true,
  description: "npm cloudstate@0.0.3 for Switchboard conformance runs (generated, git-ignored)",
  dependencies: { cloudstate: CLOUDSTATE_VERSION, "@grpc/grpc-js": GRPC_JS_VERSION },
  overrides: {
    grpc: "file:./grpc-shim",
    request: "file:./unused",
    unzipper: "file:./unused",
    mkdirp: "file:./unused",
    rimraf: "file:./unused",
  },
};

/** A failed setup step; the message names the support, the step and what failed. */
export class SetupError extends Error {
  constructor(step, detail, support = "node-support") {
    super(`${support} setup failed at step "${step}": ${detail}`);
    this.name = "SetupError";
    this.step = step;
  }
}

function run(step, command, args, options = {}, support = "node-support") {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new SetupError(step, `cannot run ${command}: ${result.error.message}`, support);
  if (result.status !== 0) {
    const output = `${result.stderr ?? ""}\n${result.stdout ?? ""}`.trim().split("\n");
    // npm names the failing request on its "npm error" lines (e.g. "404 Not Found - GET https://...").
    const npmErrors = output.filter((line) => /^npm (error|ERR!)/.test(line) && !/^npm (error|ERR!)\s+at /.test(line));
    const shown = (npmErrors.length > 0 ? npmErrors : output).slice(-25).join("\n");
    throw new SetupError(step, `\`${command} ${args.join(" ")}\` exited with ${result.status ?? result.signal}:\n${shown}`, support);
  }
  return result.stdout;
}

function writeIfChanged(path, text) {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function linkTo(target, path) {
  try {
    if (lstatSync(path).isSymbolicLink() && readlinkSync(path) === target) return;
    rmSync(path, { recursive: true, force: true });
  } catch {
    // absent
  }
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(target, path);
}

/**
 * The environment for the child npm: without what an enclosing `npm run` sets to describe the
 * root project (prefixes, workspaces, package and lifecycle data), which could point the install
 * at the repository root; registry, cache and certificate settings pass through.
 */
function cleanNpmEnv() {
  const env = {};
  const rootSpecific = /^npm_(package_|lifecycle_|command$|config_(local_prefix|prefix|global_prefix|workspaces?|include_workspace_root|call|save|global)$)/i;
  for (const [key, value] of Object.entries(process.env)) if (!rootSpecific.test(key)) env[key] = value;
  return env;
}

/** Finds protoc (PROTOC, else PATH) and the directory holding `google/protobuf/*.proto`. */
export function findProtoc(support = "node-support") {
  const step = "find protoc and the well-known protos (Debian protobuf-compiler, libprotobuf-dev)";
  const candidates = process.env.PROTOC
    ? [process.env.PROTOC]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, "protoc"));
  const protoc = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (!protoc)
    throw new SetupError(step, "protoc not found on PATH; install it with `apt-get install -y protobuf-compiler libprotobuf-dev` (or set PROTOC)", support);
  const version = run(step, protoc, ["--version"], {}, support).trim();
  const includes = [process.env.PROTOC_INCLUDE, join(dirname(dirname(protoc)), "include"), "/usr/include", "/usr/local/include"].filter(Boolean);
  const include = includes.find((dir) => existsSync(join(dir, "google/protobuf/descriptor.proto")));
  if (!include)
    throw new SetupError(
      step,
      `google/protobuf/descriptor.proto not found under ${includes.join(", ")}; install it with \`apt-get install -y libprotobuf-dev\` (or set PROTOC_INCLUDE)`,
      support,
    );
  return { protoc, version, include };
}

function hashInputs(protoc) {
  const hash = createHash("sha256");
  hash.update(
    JSON.stringify({
      CACHE_PACKAGE,
      SHIM_PACKAGE,
      SHIM_INDEX,
      UNUSED_INDEX,
      USER_FUNCTIONS,
      protoc: protoc.version,
      include: protoc.include,
      node: process.version,
    }),
  );
  for (const uf of Object.values(USER_FUNCTIONS)) {
    for (const proto of uf.protos) {
      const root = PROTO_ROOTS.find((r) => existsSync(join(r, proto)));
      hash.update(proto);
      if (root) hash.update(readFileSync(join(root, proto)));
    }
  }
  // Imported protos of this repository can change too.
  for (const file of [
    "frontend/cloudstate/entity_key.proto",
    "frontend/cloudstate/eventing.proto",
    "frontend/google/api/annotations.proto",
    "frontend/google/api/http.proto",
    "frontend/google/api/httpbody.proto",
  ]) {
    const path = join(REPO_ROOT, "protocols", file);
    if (existsSync(path)) hash.update(readFileSync(path));
  }
  return hash.digest("hex");
}

/**
 * Installs and prepares node-support in `.tck/node-support/`. Resolves when the user functions
 * can start; throws a {@link SetupError} naming the failing step otherwise.
 * @param {{ log?: (line: string) => void, force?: boolean }} [options]
 */
export async function setup(options = {}) {
  const log = options.log ?? ((line) => console.error(`[node-support setup] ${line}`));
  const started = Date.now();
  const protoc = findProtoc();
  const stampPath = join(CACHE_DIR, ".setup-stamp");
  const key = hashInputs(protoc);
  const moduleDir = join(CACHE_DIR, "node_modules/cloudstate");
  if (!options.force && existsSync(stampPath) && readFileSync(stampPath, "utf8") === key && existsSync(join(moduleDir, "package.json"))) {
    log(`up to date (${Date.now() - started} ms)`);
    return;
  }

  // 1. The cache project: package.json with the overrides, the grpc shim and the stub.
  mkdirSync(CACHE_DIR, { recursive: true });
  writeIfChanged(join(CACHE_DIR, "package.json"), `${JSON.stringify(CACHE_PACKAGE, null, 2)}\n`);
  writeIfChanged(join(CACHE_DIR, "grpc-shim/package.json"), `${JSON.stringify(SHIM_PACKAGE, null, 2)}\n`);
  writeIfChanged(join(CACHE_DIR, "grpc-shim/index.js"), SHIM_INDEX);
  writeIfChanged(join(CACHE_DIR, "unused/package.json"), `${JSON.stringify(UNUSED_PACKAGE, null, 2)}\n`);
  writeIfChanged(join(CACHE_DIR, "unused/index.js"), UNUSED_INDEX);

  // 2. npm install from the registry (a no-op taking a second or two when nothing changed).
  const t = Date.now();
  log(`npm install cloudstate@${CLOUDSTATE_VERSION} @grpc/grpc-js@${GRPC_JS_VERSION} (--ignore-scripts --engine-strict=false) into ${CACHE_DIR}`);
  run(
    `npm install cloudstate@${CLOUDSTATE_VERSION} into ${CACHE_DIR}`,
    "npm",
    ["install", "--prefix", CACHE_DIR, "--ignore-scripts", "--engine-strict=false", "--no-audit", "--no-fund", "--loglevel=error", "--install-links=false"],
    { cwd: CACHE_DIR, env: cleanNpmEnv() },
  );
  log(`npm install took ${Date.now() - t} ms`);

  // 3. Check the install: the shim took the place of native grpc, and the library loads.
  const check = `
    const grpc = require("grpc");
    if (typeof grpc.Server.prototype.bindAsync !== "function" || !String(grpc.Server.prototype.bind).includes("bindAsync")) throw new Error("node_modules/grpc is not the grpc-js shim");
    const cs = require("cloudstate");
    if (typeof cs.EventSourced !== "function" || typeof cs.CloudState !== "function") throw new Error("cloudstate does not export EventSourced and CloudState");
    const v = require("cloudstate/package.json").version;
    if (v !== ${JSON.stringify(CLOUDSTATE_VERSION)}) throw new Error("cloudstate " + v + " installed, expected ${CLOUDSTATE_VERSION}");
  `;
  run("load cloudstate with the grpc shim", process.execPath, ["-e", check], { cwd: CACHE_DIR });

  // 4. protoc and the well-known protos where the package looks for them.
  linkTo(protoc.protoc, join(moduleDir, "protoc/bin/protoc"));
  linkTo(join(protoc.include, "google/protobuf"), join(moduleDir, "protoc/include/google/protobuf"));

  // 5. One working directory per user function: package.json (the service name the library
  //    reports) and user-function.desc.
  for (const [name, uf] of Object.entries(USER_FUNCTIONS)) {
    const dir = join(CACHE_DIR, name);
    mkdirSync(dir, { recursive: true });
    writeIfChanged(join(dir, "package.json"), `${JSON.stringify({ name: uf.packageName, version: "0.1.0", private: true }, null, 2)}\n`);
    const out = join(dir, "user-function.desc");
    run(`compile ${name}/user-function.desc with ${protoc.version}`, protoc.protoc, [
      "--include_imports",
      `--descriptor_set_out=${out}`,
      ...PROTO_ROOTS.map((root) => `--proto_path=${root}`),
      `--proto_path=${protoc.include}`,
      ...uf.protos,
    ]);
  }

  writeFileSync(stampPath, key);
  log(`ready in ${Date.now() - started} ms (${protoc.version})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  setup({ force: process.argv.includes("--force") }).catch((error) => {
    console.error(error instanceof SetupError ? error.message : error);
    process.exit(1);
  });
}

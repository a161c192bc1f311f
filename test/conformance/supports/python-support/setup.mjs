#!/usr/bin/env node
// Prepares python-support as published (PyPI `cloudstate==0.1.1`) for conformance runs, in the
// git-ignored cache `.tck/python-support/` at the repository root. Nothing installed here is
// committed: the packages come from PyPI at setup time.
//
//   .tck/python-support/venv/    a virtual environment (python3 -m venv) with
//                                cloudstate==0.1.1, protobuf==3.20.3, grpcio, googleapis-common-protos
//   .tck/python-support/stubs/   Python message modules generated from this repository's protos
//
// Why --no-deps: cloudstate 0.1.1 pins protobuf==3.11.3, grpcio==1.28.1 and grpcio-tools==1.28.1
// (no wheels for current Pythons; they would build from source) plus attrs and google-api,
// which it never imports. Its generated modules need protobuf < 4, and 3.20.3 is the newest
// runtime of that line, so every requirement is pinned here and installed without resolving
// the library's own pins. grpcio has no dependencies; googleapis-common-protos needs only
// protobuf (and provides google/api/*.proto to the descriptor pool, which the library's
// discovery reads).
//
// Stubs: only message modules are needed (the library serves the protocol itself), so they are
// generated with Debian's protoc 3.21 (`protobuf-compiler`, the same one node-support uses;
// its output runs on protobuf 3.20.x). grpcio-tools 1.48.2 has no wheel for Python 3.11.
// The stubs leave out cloudstate/entity_key.proto (the library ships its own module) and
// google/api/* (googleapis-common-protos ships them). cloudstate/eventing.proto and the TCK
// model, whose modules live in the `cloudstate` package namespace, are added to that package's
// __path__ by the user functions (cloudstate_stubs.py).
//
// Idempotent: a stamp records the inputs; a re-run with the same inputs checks it and returns.
// Every failure names its step (and, for pip, the failing requirement or request).
//
// Usage: node test/conformance/supports/python-support/setup.mjs   (or import { setup }).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findProtoc, SetupError as SupportSetupError } from "../node-support/setup.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = resolve(HERE, "../../../..");
/** The support's cache directory. */
export const CACHE_DIR = join(process.env.SWITCHBOARD_TCK_CACHE ? resolve(process.env.SWITCHBOARD_TCK_CACHE) : join(REPO_ROOT, ".tck"), "python-support");
export const VENV_DIR = join(CACHE_DIR, "venv");
export const STUBS_DIR = join(CACHE_DIR, "stubs");
/** The interpreter of the virtual environment. */
export const VENV_PYTHON = join(VENV_DIR, "bin", "python");

/** Exact requirements, installed with --no-deps (see above). */
export const REQUIREMENTS = ["cloudstate==0.1.1", "protobuf==3.20.3", "grpcio==1.62.3", "googleapis-common-protos==1.56.4"];

/** Protos compiled to stubs, relative to the proto roots below. */
export const STUB_PROTOS = [
  "cloudstate/tck/model/eventsourced.proto",
  "shoppingcart/shoppingcart.proto",
  "shoppingcart/persistence/domain.proto",
  "cloudstate/eventing.proto",
];
const PROTO_ROOTS = ["protocols/tck", "protocols/example", "packages/protocol/proto"].map((p) => join(REPO_ROOT, p));

class SetupError extends SupportSetupError {
  constructor(step, detail) {
    super(step, detail, "python-support");
  }
}

function run(step, command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new SetupError(step, `cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const lines = `${result.stderr ?? ""}\n${result.stdout ?? ""}`.trim().split("\n");
    // pip names what failed on its ERROR lines (the requirement, or the URL of a failed request).
    const errors = lines.filter((line) => /^(ERROR|error|WARNING: Retrying)/.test(line));
    const shown = (errors.length > 0 ? errors : lines).slice(-25).join("\n");
    throw new SetupError(step, `\`${command} ${args.join(" ")}\` exited with ${result.status ?? result.signal}:\n${shown}`);
  }
  return result.stdout;
}

function findPython() {
  const step = "find python3 (3.8 or later)";
  const names = process.env.PYTHON ? [process.env.PYTHON] : ["python3"];
  for (const name of names) {
    const candidates = name.includes("/")
      ? [name]
      : (process.env.PATH ?? "")
          .split(delimiter)
          .filter(Boolean)
          .map((d) => join(d, name));
    for (const candidate of candidates) {
      if (!existsSync(candidate)) continue;
      const result = spawnSync(candidate, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8" });
      if (result.status !== 0) continue;
      const version = result.stdout.trim();
      const [major, minor] = version.split(".").map(Number);
      if (major === 3 && (minor ?? 0) >= 8) return { python: candidate, version };
    }
  }
  throw new SetupError(step, "no python3 >= 3.8 on PATH (set PYTHON to choose one)");
}

function hashInputs(python, protoc) {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ REQUIREMENTS, STUB_PROTOS, python: python.version, pythonPath: python.python, protoc: protoc.version }));
  for (const proto of [...STUB_PROTOS, "cloudstate/entity_key.proto", "google/api/annotations.proto", "google/api/http.proto", "google/api/httpbody.proto"]) {
    const root = PROTO_ROOTS.find((r) => existsSync(join(r, proto)));
    hash.update(proto);
    if (root) hash.update(readFileSync(join(root, proto)));
  }
  return hash.digest("hex");
}

const CHECK = `
import sys
sys.path.insert(0, ${JSON.stringify(STUBS_DIR)})
import cloudstate
cloudstate.__path__.append(${JSON.stringify(join(STUBS_DIR, "cloudstate"))})
import google.protobuf
if not google.protobuf.__version__.startswith("3."):
    raise SystemExit("protobuf %s installed, expected 3.x" % google.protobuf.__version__)
from cloudstate.version import __version__
if __version__ != "0.1.1":
    raise SystemExit("cloudstate %s installed, expected 0.1.1" % __version__)
from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.tck.model import eventsourced_pb2
from shoppingcart import shoppingcart_pb2
from shoppingcart.persistence import domain_pb2
assert "EventSourcedTckModel" in eventsourced_pb2.DESCRIPTOR.services_by_name
assert "ShoppingCart" in shoppingcart_pb2.DESCRIPTOR.services_by_name
`;

/**
 * Installs and prepares python-support in `.tck/python-support/`. Resolves when the user
 * functions can start; throws a {@link SetupError} naming the failing step otherwise.
 * @param {{ log?: (line: string) => void, force?: boolean }} [options]
 */
export async function setup(options = {}) {
  const log = options.log ?? ((line) => console.error(`[python-support setup] ${line}`));
  const started = Date.now();
  const python = findPython();
  const protoc = findProtoc("python-support");
  const stampPath = join(CACHE_DIR, ".setup-stamp");
  const key = hashInputs(python, protoc);
  if (!options.force && existsSync(stampPath) && readFileSync(stampPath, "utf8") === key && existsSync(VENV_PYTHON)) {
    log(`up to date (${Date.now() - started} ms)`);
    return;
  }
  mkdirSync(CACHE_DIR, { recursive: true });

  // 1. The virtual environment (re-created when the interpreter changed).
  const venvStep = `create the virtual environment ${VENV_DIR} with ${python.python} (Python ${python.version})`;
  const venvVersion = existsSync(VENV_PYTHON)
    ? spawnSync(VENV_PYTHON, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8" }).stdout?.trim()
    : undefined;
  if (venvVersion !== python.version) {
    rmSync(VENV_DIR, { recursive: true, force: true });
    const t = Date.now();
    try {
      run(venvStep, python.python, ["-m", "venv", VENV_DIR]);
    } catch (error) {
      error.message += "\n(on Debian the venv module comes with `apt-get install -y python3-venv`)";
      throw error;
    }
    log(`venv created in ${Date.now() - t} ms`);
  }

  // 2. The packages from PyPI.
  let t = Date.now();
  log(`pip install --no-deps ${REQUIREMENTS.join(" ")}`);
  run(`pip install ${REQUIREMENTS.join(" ")} from PyPI`, VENV_PYTHON, [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    "--quiet",
    "--no-deps",
    ...REQUIREMENTS,
  ]);
  log(`pip install took ${Date.now() - t} ms`);

  // 3. The stubs.
  t = Date.now();
  rmSync(STUBS_DIR, { recursive: true, force: true });
  mkdirSync(STUBS_DIR, { recursive: true });
  run(`generate Python stubs with ${protoc.version}`, protoc.protoc, [
    `--python_out=${STUBS_DIR}`,
    ...PROTO_ROOTS.map((root) => `--proto_path=${root}`),
    `--proto_path=${protoc.include}`,
    ...STUB_PROTOS,
  ]);
  log(`stubs generated in ${Date.now() - t} ms`);

  // 4. Everything imports.
  run("import cloudstate 0.1.1 and the stubs", VENV_PYTHON, ["-c", CHECK]);

  writeFileSync(stampPath, key);
  log(`ready in ${Date.now() - started} ms (Python ${python.version}, ${protoc.version})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  setup({ force: process.argv.includes("--force") }).catch((error) => {
    console.error(error instanceof SetupError || error instanceof SupportSetupError ? error.message : error);
    process.exit(1);
  });
}

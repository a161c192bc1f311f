/**
 * The supports whose setup is being written elsewhere (issue #6): each is a clean hook that
 * reports `not run` until its `setup` obtains the support and returns the commands of its
 * user functions (a TCK model, a shopping cart).
 *
 * node-support and python-support are written as `LanguageSupportHook`s in ./node-support and
 * ./python-support; to switch one on, replace its stub below with
 *   `fromLanguageSupportHook((await import("./node-support/index.js")).nodeSupport, "not in npm cloudstate 0.0.3")`.
 */
import type { Support } from "./support.js";

/**
 * Our TypeScript SDK, from this repository. To enable: build a user function serving every
 * TCK model service (and the shopping cart) with @switchboard/sdk, and return
 * `{ kind: "ready", runs: [{ areas: typescriptSdk.areas, functionCommand }], notes: [] }`
 * (it must listen on HOST:PORT).
 */
export const typescriptSdk: Support = {
  name: "typescript-sdk",
  title: "TypeScript SDK",
  areas: ["Discovery", "ES", "VE", "Action", "CRDT", "Eventing", "Shopping cart"],
  notCovered: "not covered",
  async setup() {
    return { kind: "not-run", reason: "TCK model user function on the SDK not written yet" };
  },
};

/**
 * node-support as published: npm `cloudstate@0.0.3` (event sourcing only matches protocol
 * 0.2), installed with `--ignore-scripts` and a @grpc/grpc-js shim, with an event sourced TCK
 * model and a shopping cart written in this repository (clarification 3).
 */
export const nodeSupport: Support = {
  name: "node-support",
  title: "node-support (npm cloudstate 0.0.3)",
  areas: ["Discovery", "ES", "Shopping cart"],
  notCovered: "not in npm cloudstate 0.0.3",
  async setup() {
    return { kind: "not-run", reason: "npm cloudstate 0.0.3 hook (supports/node-support) not enabled yet" };
  },
};

/**
 * python-support as published: PyPI `cloudstate==0.1.1` with `protobuf==3.20.3` (event
 * sourcing only), with an event sourced TCK model and a shopping cart written in this
 * repository (clarification 3).
 */
export const pythonSupport: Support = {
  name: "python-support",
  title: "python-support (PyPI cloudstate 0.1.1)",
  areas: ["Discovery", "ES", "Shopping cart"],
  notCovered: "not in PyPI cloudstate 0.1.1",
  async setup() {
    return { kind: "not-run", reason: "PyPI cloudstate 0.1.1 hook (supports/python-support) not enabled yet" };
  },
};

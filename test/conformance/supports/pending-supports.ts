/**
 * The supports whose setup is being written elsewhere (issue #6): each is a clean hook that
 * reports `not run` until its `setup` obtains the support and returns the commands of its
 * user functions (a TCK model, a shopping cart).
 *
 * node-support and python-support are `LanguageSupportHook`s in ./node-support and ./python-support.
 */
import { nodeSupport as nodeSupportHook } from "./node-support/index.js";
import { pythonSupport as pythonSupportHook } from "./python-support/index.js";
import { fromLanguageSupportHook, type Support } from "./support.js";

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

/** node-support as published: npm `cloudstate@0.0.3` (clarification 3); see ./node-support. */
export const nodeSupport: Support = fromLanguageSupportHook(nodeSupportHook, "not in npm cloudstate 0.0.3");

/** python-support as published: PyPI `cloudstate==0.1.1` (clarification 3); see ./python-support. */
export const pythonSupport: Support = fromLanguageSupportHook(pythonSupportHook, "not in PyPI cloudstate 0.1.1");

/**
 * The supports besides go-support: our TypeScript SDK, and the published node-support and
 * python-support (`LanguageSupportHook`s in ./node-support and ./python-support). Each
 * `setup` obtains its support and returns the commands of its user functions.
 */
import { nodeSupport as nodeSupportHook } from "./node-support/index.js";
import { pythonSupport as pythonSupportHook } from "./python-support/index.js";
import { fromLanguageSupportHook, type Support } from "./support.js";

/** Our TypeScript SDK, from this repository: the TCK model user function in ./typescript-sdk. */
export { typescriptSdk } from "./typescript-sdk/index.js";

/** node-support as published: npm `cloudstate@0.0.3` (docs/protocol.md#conformance); see ./node-support. */
export const nodeSupport: Support = fromLanguageSupportHook(nodeSupportHook, "not in npm cloudstate 0.0.3");

/** python-support as published: PyPI `cloudstate==0.1.1` (docs/protocol.md#conformance); see ./python-support. */
export const pythonSupport: Support = fromLanguageSupportHook(pythonSupportHook, "not in PyPI cloudstate 0.1.1");

/**
 * The TypeScript SDK as a conformance support: its TCK user function (`main.ts`, every TCK model
 * service and the shopping cart, written with `@switchboard/sdk`) run for every area, in the
 * shape of `../support.ts`. The TCK starts the command with `HOST` and `PORT` set.
 *
 * Wire it into the matrix in place of the stub in `../other-supports.ts`:
 *
 * @example
 * ```ts
 * export { typescriptSdk } from "./typescript-sdk/index.js";
 * ```
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Area } from "@switchboard/tck";
import type { Support, SupportCommand } from "../support.js";
import { toShellCommand } from "../support.js";

/** Every area: the user function serves every TCK model service and the shopping cart. */
const AREAS: readonly Area[] = ["Discovery", "ES", "VE", "Action", "CRDT", "Eventing", "Shopping cart"];

/** The repository root. */
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * How to start the TCK user function: Node with the tsx loader (resolved to a file, so the
 * command works from any directory) on `main.ts`.
 */
export const command: SupportCommand = {
  cmd: process.execPath,
  args: ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("./main.ts", import.meta.url))],
  env: {},
};

/** The support description: its name in the results table and its command. */
export const description = { name: "TypeScript SDK", command } as const;

/** The TypeScript SDK row of the conformance matrix. */
export const typescriptSdk: Support = {
  name: "typescript-sdk",
  title: description.name,
  areas: AREAS,
  notCovered: "not covered",
  async setup(context) {
    // The user function imports @switchboard/sdk by its package name, which resolves to the
    // SDK's built dist (npm run build, which test:conformance runs first).
    if (!existsSync(`${ROOT}packages/sdk/dist/index.js`)) {
      return { kind: "not-run", reason: "packages/sdk is not built (run npm run build)" };
    }
    context.log("typescript-sdk: from this repository");
    return { kind: "ready", runs: [{ areas: AREAS, functionCommand: toShellCommand(command) }], notes: [] };
  },
};

export default typescriptSdk;

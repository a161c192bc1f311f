/**
 * node-support as published (npm `cloudstate@0.0.3`), described for the conformance runner:
 * how to install it (into the git-ignored `.tck/node-support/`), how to start its user
 * functions (the runner sets `HOST`/`PORT`), and which cases it is known to fail.
 *
 * `setup()` rejects with the failing step and request (e.g. `node-support setup failed at step
 * "npm install cloudstate@0.0.3 into …": … npm error … request to https://… failed`).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LanguageSupportHook } from "../support.js";

const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** Runs a setup script with Node; rejects with the script's own error text (it names the failing step). */
export function runSetupScript(cmd: string, args: readonly string[], label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error) => reject(new Error(`${label} setup: cannot run ${cmd}: ${error.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else {
        const lines = output
          .trim()
          .split("\n")
          .filter((line) => !/^\[[a-z-]+ setup\] /.test(line));
        reject(new Error(lines.length > 0 ? lines.join("\n") : `${label} setup exited with ${code ?? signal}`));
      }
    });
  });
}

/** The hook test/conformance/supports/support.ts adapts with `fromLanguageSupportHook`. */
export const nodeSupport: LanguageSupportHook = {
  name: "node-support",
  displayName: "node-support (npm cloudstate 0.0.3)",
  setup: () => runSetupScript(process.execPath, [file("./setup.mjs")], "node-support"),
  tckModelCommand: { cmd: process.execPath, args: [file("./tck-model.js")], env: {} },
  shoppingCartCommand: { cmd: process.execPath, args: [file("./shopping-cart.js")], env: {} },
  knownFailuresFile: file("./known-failures.txt"),
};

export default nodeSupport;

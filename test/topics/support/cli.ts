/** Runs the `switchboard` CLI for the topic tests. */
import { execFile } from "node:child_process";
import { SWITCHBOARD_BIN } from "../../support/proxy-process.js";

/** Runs the switchboard CLI; resolves to its exit code and output. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SWITCHBOARD_BIN, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

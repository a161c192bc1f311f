import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, lstatSync, mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startProcess } from "./testing/processes.js";

/** A user function's main, as a process: one action served with `serve()`. */
const MAIN = `
import { action as model } from "@switchboard/protocol/tck";
import { action, serve } from ${JSON.stringify(new URL("./index.ts", import.meta.url).href)};
await serve([action({ service: model.ActionTwo, handlers: { call: () => undefined } })]);
`;

function runMain(port: string) {
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", MAIN], {
    cwd: new URL("..", import.meta.url),
    env: { ...process.env, HOST: "127.0.0.1", PORT: port },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("serve()", () => {
  it("prints its listening line and exits 0 on SIGTERM", async () => {
    const main = await startProcess({
      command: process.execPath,
      args: ["--import", "tsx", "--input-type=module", "-e", MAIN],
      cwd: new URL("..", import.meta.url).pathname,
      env: { HOST: "127.0.0.1", PORT: "0" },
      ready: /switchboard-sdk: listening on 127\.0\.0\.1:(\d+) serving cloudstate\.tck\.model\.action\.ActionTwo\n/,
    });
    assert.ok(Number(main.match[1]) > 0);
    assert.equal(await main.stop("SIGTERM"), 0);
  });

  it("says in one line that the port is taken, without a stack trace, and exits 1", async () => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const child = runMain(String(port));
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (c: string) => {
        stderr += c;
      });
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 1);
      assert.equal(stderr, `switchboard-sdk: cannot listen on 127.0.0.1:${port}: the port is already in use (another user function? set PORT)\n`);
    } finally {
      taken.close();
    }
  });

  it("listens on the Unix socket USER_FUNCTION_SOCKET names instead of HOST:PORT, and removes it on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sdk-serve-uds-"));
    const socket = join(dir, "uf.sock");
    try {
      const main = await startProcess({
        command: process.execPath,
        args: ["--import", "tsx", "--input-type=module", "-e", MAIN],
        cwd: new URL("..", import.meta.url).pathname,
        env: { HOST: "127.0.0.1", PORT: "0", USER_FUNCTION_SOCKET: socket },
        ready: /switchboard-sdk: listening on (\S+) serving cloudstate\.tck\.model\.action\.ActionTwo\n/,
      });
      assert.equal(main.match[1], `unix:${socket}`);
      assert.ok(lstatSync(socket).isSocket());
      assert.equal(await main.stop("SIGTERM"), 0);
      assert.equal(existsSync(socket), false, "the socket file is removed at stop");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

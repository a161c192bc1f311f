/**
 * `switchboard run` through real processes: its exit code when Ctrl-C stops both the proxy and
 * the user function (whichever finishes first), and when the user function exits on its own.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../packages/proxy/bin/switchboard.mjs");

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** `switchboard run` in a process group of its own, with a user function given as a Node script. */
async function startRun(userFunction: string): Promise<{ child: ChildProcess; httpPort: number; stderr: () => string; stdout: () => string }> {
  const httpPort = await freePort();
  const ufPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      BIN,
      "run",
      "--http-port",
      String(httpPort),
      "--user-function-port",
      String(ufPort),
      "--admin-port",
      "0",
      "--store",
      "memory",
      "--",
      process.execPath,
      "-e",
      userFunction,
    ],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return { child, httpPort, stderr: () => err, stdout: () => out };
}

async function eventually(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("switchboard run", () => {
  it("exits 0 on Ctrl-C even when the user function stops before the proxy has drained", async () => {
    // A user function that stops at once on Ctrl-C (and is otherwise just alive).
    const run = await startRun(
      `process.on("SIGINT", () => { require("node:fs").writeSync(2, "uf: stopping\\n"); process.exit(0); }); setInterval(() => {}, 1000); require("node:fs").writeSync(2, "uf: up\\n");`,
    );
    const exited = once(run.child, "exit") as Promise<[number | null, string | null]>;
    let held: net.Socket | undefined;
    try {
      await eventually(() => /front port bound/.test(run.stderr()) && /uf: up/.test(run.stderr()), "the front port and the user function");
      // A client holding a keep-alive connection makes the proxy's drain wait for it, so the user
      // function is sure to be gone first.
      held = net.connect(run.httpPort, "127.0.0.1");
      await once(held, "connect");
      held.write(`GET /alive HTTP/1.1\r\nhost: x\r\n\r\n`);
      await once(held, "data");
      process.kill(-(run.child.pid as number), "SIGINT");
      const [code, signal] = await exited;
      assert.match(run.stderr(), /uf: stopping/);
      assert.doesNotMatch(run.stderr(), /the user function exited/);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, run.stderr());
    } finally {
      held?.destroy();
      if (run.child.exitCode === null) process.kill(-(run.child.pid as number), "SIGKILL");
    }
  });

  it("takes a stop signal that arrives just after the user function is gone as Ctrl-C, not as the user function ending on its own", async () => {
    // The order in which this process learns of its own SIGINT and of the user function's exit
    // is not guaranteed. Force the unlucky order: on its SIGINT the user function leaves a
    // helper that signals switchboard run 50 ms later, and exits at once.
    const run = await startRun(
      `process.on("SIGINT", () => {
         const fs = require("node:fs");
         fs.writeSync(2, "uf: stopping\\n");
         require("node:child_process").spawn(process.execPath, ["-e", "setTimeout(() => process.kill(" + process.ppid + ", 'SIGINT'), 50)"], { detached: true, stdio: "ignore" }).unref();
         process.exit(0);
       });
       setInterval(() => {}, 1000);
       require("node:fs").writeSync(2, "uf pid " + process.pid + "\\nuf: up\\n");`,
    );
    const exited = once(run.child, "exit") as Promise<[number | null, string | null]>;
    try {
      await eventually(() => /front port bound/.test(run.stderr()) && /uf: up/.test(run.stderr()), "the front port and the user function");
      // Only the user function gets the first signal; the run hears of it 50 ms after its exit.
      const ufPid = Number(/uf pid (\d+)/.exec(run.stderr())?.[1] ?? Number.NaN);
      assert.ok(Number.isInteger(ufPid), run.stderr());
      process.kill(ufPid, "SIGINT");
      const [code, signal] = await exited;
      assert.match(run.stderr(), /uf: stopping/);
      assert.doesNotMatch(run.stderr(), /the user function exited/);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, run.stderr());
    } finally {
      if (run.child.exitCode === null) process.kill(-(run.child.pid as number), "SIGKILL");
    }
  });

  it("stops the proxy and exits 1 when the user function exits on its own, saying so", async () => {
    const run = await startRun(`setTimeout(() => process.exit(0), 1500);`);
    const [code] = (await once(run.child, "exit")) as [number | null];
    assert.equal(code, 1, run.stderr());
    assert.match(run.stderr(), /switchboard run: the user function exited \(0\); stopping the proxy/);
  });
});

/**
 * Readiness and store settings through real processes: the `switchboard` CLI beside the
 * counter example. A user function that hangs (SIGSTOP) takes `/ready` to 503 through the
 * keep-alive PINGs, and back to 200 once it runs again (SIGCONT); a SQLite store that
 * would keep nothing on disk is refused at start.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { eventually } from "./support/grpc-client.js";
import { type ExampleProcess, startExample } from "./observability/support/example-process.js";
import { SWITCHBOARD_BIN, startProxy } from "./support/proxy-process.js";

const status = async (port: number, route: string) => (await fetch(`http://127.0.0.1:${port}${route}`)).status;

describe("a hung user function", () => {
  let counter: ExampleProcess;
  before(async () => {
    counter = await startExample("counter");
  });
  after(async () => {
    await counter?.stop();
  });

  it("takes /ready to 503 while it does not answer PINGs, and back to 200 when it runs again", async () => {
    const proxy = await startProxy({ userFunctionPort: counter.port });
    const pid = counter.pid;
    try {
      assert.equal(await status(proxy.port, "/ready"), 200);
      process.kill(pid, "SIGSTOP");
      try {
        // Keep-alive: a PING once the connection has been quiet for 10 s (discovery was its last answer), 5 s to answer it.
        await eventually(async () => (await status(proxy.port, "/ready")) === 503, 30_000, "/ready 503 while the user function is stopped");
        assert.equal(await status(proxy.port, "/alive"), 200);
        assert.match(proxy.stderr(), /did not answer a keep-alive PING within 5000 ms — is it hung\?/);
      } finally {
        process.kill(pid, "SIGCONT");
      }
      await eventually(async () => (await status(proxy.port, "/ready")) === 200, 30_000, "/ready 200 once the user function runs again");
      const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/h1/increase`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value: 2 }),
      });
      assert.equal(response.status, 200, await response.text());
    } finally {
      await proxy.stop();
    }
  });
});

describe("a store that keeps nothing on disk", () => {
  it("is refused at start with a one-line reason, from the flag and from DATABASE_URL", () => {
    for (const setting of [
      { args: ["--store", "sqlite::memory:"], env: {} },
      { args: ["--store", "sqlite:file::memory:?cache=shared"], env: {} },
      { args: [], env: { DATABASE_URL: "sqlite::memory:" } },
    ]) {
      const run = spawnSync(process.execPath, [SWITCHBOARD_BIN, "start", "--admin-port", "0", "--http-port", "0", ...setting.args], {
        encoding: "utf8",
        env: { ...process.env, ...setting.env },
        timeout: 15_000,
      });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /^switchboard: (DATABASE_URL: )?--store sqlite::memory: is not durable and is refused; use --store memory/);
      assert.equal(run.stdout, "");
    }
  });
});

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { eventually } from "./support/grpc-client.js";
import { SWITCHBOARD_BIN } from "./support/proxy-process.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}

/** The README's demo (`npm start` runs scripts/demo.mjs) and `switchboard call` against it. */
describe("the demo and switchboard call", () => {
  it("serves the counter example on SQLite, answers switchboard call and HTTP, and stops both processes on Ctrl-C", async () => {
    const httpPort = await freePort();
    const ufPort = await freePort();
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-demo-"));
    // Run from a scratch directory so the demo's default SQLite file lands there.
    const demo = spawn(process.execPath, [path.join(ROOT, "scripts/demo.mjs")], {
      cwd,
      env: { ...process.env, HTTP_PORT: String(httpPort), USER_FUNCTION_PORT: String(ufPort), ADMIN_PORT: String(await freePort()) },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that Ctrl-C can reach every process of it, as from a terminal.
      detached: true,
    });
    let out = "";
    demo.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    let err = "";
    demo.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    try {
      await eventually(() => /Press Ctrl-C to stop/.test(out), 15_000, "demo ready");
      assert.match(out, /switchboard ready on 0\.0\.0\.0:\d+ services: com\.example\.counter\.CounterService, com\.example\.counter\.CounterFanout/);
      assert.match(err, new RegExp(`switchboard-sdk: listening on 127\\.0\\.0\\.1:${ufPort} `), "the user function on USER_FUNCTION_PORT");
      assert.match(out, new RegExp(`curl -s localhost:${httpPort}/counters/c1\n`), "the banner names HTTP_PORT");
      const call = (...args: string[]) =>
        spawnSync(process.execPath, [SWITCHBOARD_BIN, "call", "--address", `127.0.0.1:${httpPort}`, ...args], { encoding: "utf8" });
      const increased = call("com.example.counter.CounterService/Increase", '{"counterId":"demo","value":5}');
      assert.equal(increased.status, 0, increased.stderr);
      const current = call("com.example.counter.CounterService/GetCurrentCounter", '{"counterId":"demo"}');
      assert.deepEqual(JSON.parse(current.stdout), { value: "5" });
      const viaRoute = await fetch(`http://127.0.0.1:${httpPort}/counters/demo`);
      assert.deepEqual(await viaRoute.json(), { value: "5" });
      const bad = call("com.example.counter.CounterService/Nope");
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /HTTP 404/);
      const typo = call("com.example.counter.CounterService/Incrase", "{}");
      assert.equal(
        typo.stderr,
        "switchboard call: HTTP 404: no route for POST /com.example.counter.CounterService/Incrase; did you mean com.example.counter.CounterService/Increase?\n",
      );
      const viaUrl = spawnSync(
        process.execPath,
        [SWITCHBOARD_BIN, "call", "--address", `http://localhost:${httpPort}`, "com.example.counter.CounterService/GetCurrentCounter", '{"counterId":"demo"}'],
        { encoding: "utf8" },
      );
      assert.deepEqual(JSON.parse(viaUrl.stdout), { value: "5" }, viaUrl.stderr);
      const list = spawnSync(process.execPath, [SWITCHBOARD_BIN, "list", "--address", `127.0.0.1:${httpPort}`], { encoding: "utf8" });
      assert.equal(list.status, 0, list.stderr);
      const services = list.stdout.split("\n").filter((line) => line !== "" && !line.startsWith(" "));
      assert.deepEqual(services, [
        "com.example.counter.CounterService value-entity Increase, Decrease, Reset, GetCurrentCounter",
        "com.example.counter.CounterFanout action IncreaseMany",
      ]);
      assert.match(list.stdout, /\n {2}GetCurrentCounter {2}GET \/counters\/\{counter_id\}\n/);
      const badJson = call("com.example.counter.CounterService/Increase", "{nope");
      assert.equal(badJson.status, 2);
      assert.ok(fs.existsSync(path.join(cwd, ".switchboard/switchboard.db")), "state in the default SQLite file");
      // Ctrl-C in a terminal signals the whole group: the proxy and the user function stop
      // at once, with the counter entity still active.
      process.kill(-(demo.pid as number), "SIGINT");
      const [code] = (await once(demo, "exit")) as [number];
      assert.equal(code, 0, err);
      assert.doesNotMatch(err, /WARN|ERROR/, "a clean Ctrl-C logs no warning");
      await eventually(
        async () =>
          !(await fetch(`http://127.0.0.1:${httpPort}/alive`).then(
            () => true,
            () => false,
          )),
        3000,
        "proxy stopped",
      );
    } finally {
      if (demo.exitCode === null) process.kill(-(demo.pid as number), "SIGKILL");
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

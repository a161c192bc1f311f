/**
 * A failure reported is a failure that happened, through real processes: the counter
 * example is killed with SIGKILL while 32 increments are in flight, then started again on
 * the same port. Every increment the client saw succeed is stored, none it saw fail is,
 * and the failures say the user function was unavailable (no "passivated", no protocol
 * violation while the proxy discovers the restarted user function).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ExampleProcess, startExample } from "./observability/support/example-process.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const KEYS = 16;
const WORKERS = 32;

describe("killing the user function under load", () => {
  let dir: string;
  let counter: ExampleProcess;
  let proxy: ProxyProcess;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-uf-kill-"));
    counter = await startExample("counter");
    proxy = await startProxy({ userFunctionPort: counter.port, store: `sqlite:${path.join(dir, "state.db")}` });
  });
  after(async () => {
    await proxy?.stop();
    await counter?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers each write by what happened to it: acknowledged ones are stored, failed ones are not", async (t) => {
    const acked = new Array<number>(KEYS).fill(0);
    const failures = new Map<string, number>();
    let stop = false;
    let calls = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const key = (w + i) % KEYS;
        calls++;
        const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/k${key}/increase`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ value: 1 }),
        }).catch((error: Error) => ({ status: 0, text: async () => error.message }));
        const text = await response.text();
        if (response.status === 200) acked[key] = (acked[key] ?? 0) + 1;
        else failures.set(`${response.status} ${text.slice(0, 60)}`, (failures.get(`${response.status} ${text.slice(0, 60)}`) ?? 0) + 1);
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    // Let the entities activate and writes flow, then kill the user function mid-flight and restart it.
    while (acked.reduce((a, b) => a + b, 0) < 200) await new Promise((resolve) => setTimeout(resolve, 20));
    const port = counter.port;
    await counter.stop();
    counter = await startExample("counter", { PORT: String(port) });
    const resumedAt = acked.reduce((a, b) => a + b, 0);
    while (acked.reduce((a, b) => a + b, 0) < resumedAt + 200) await new Promise((resolve) => setTimeout(resolve, 20));
    stop = true;
    await load;

    for (let key = 0; key < KEYS; key++) {
      const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/k${key}`);
      assert.equal(response.status, 200);
      const stored = Number((JSON.parse(await response.text()) as { value?: string }).value ?? 0);
      assert.equal(stored, acked[key], `counter k${key}: ${acked[key]} increments acknowledged, ${stored} stored (${calls} calls, failures: ${[...failures]})`);
    }
    t.diagnostic(`${calls} calls, ${acked.reduce((a, b) => a + b, 0)} acknowledged, failures: ${JSON.stringify([...failures])}`);
    for (const [failure] of failures) {
      assert.match(failure, /^503 /, `only "unavailable" while the user function restarts, got: ${failure}`);
      assert.doesNotMatch(failure, /passivated|protocol|violation/i);
    }
  });
});

/**
 * The user function of bench/value-changes.ts, in a process of its own, written with the
 * TypeScript SDK on the value-change tests' model (test/topics/proto/.../counters.proto):
 *
 *   node --import tsx bench/value-changes-user-function.ts --port <port> --report-port <port> [--no-consumer]
 *
 * It serves the `Counter` value entity (persistence id "counters") and, unless
 * `--no-consumer`, `CounterAudit`: one consumer group whose action receives every stored
 * counter state and does nothing else but note "<id> <value> <µs>" (the time it saw the
 * change, in µs on CLOCK_MONOTONIC, which every process of the machine shares). The bench
 * reads and clears those notes with `GET /seen` on the report port (plain HTTP/1.1).
 */
import * as http from "node:http";
import { parseArgs } from "node:util";
import { action, createServer } from "@switchboard/sdk";
import { CounterAudit } from "../test/topics/gen/switchboard/test/topics/counters_pb.js";
import { counterEntity } from "../test/topics/support/counters-user-function.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    "report-port": { type: "string", default: "0" },
    "no-consumer": { type: "boolean", default: false },
  },
});

let seen: string[] = [];
const counter = counterEntity();
const audit = action({
  service: CounterAudit,
  handlers: {
    seen(state) {
      seen.push(`${state.id} ${state.value} ${process.hrtime.bigint() / 1000n}`);
      return {};
    },
  },
});

const running = await createServer({ entities: values["no-consumer"] ? [counter] : [counter, audit] }).listen({
  host: "127.0.0.1",
  port: Number(values.port),
});
const report = http.createServer((_req, res) => {
  const lines = seen;
  seen = [];
  res.end(lines.length === 0 ? "" : `${lines.join("\n")}\n`);
});
await new Promise<void>((resolve) => report.listen(Number(values["report-port"]), "127.0.0.1", resolve));
process.stdout.write(`value-changes user function ready on 127.0.0.1:${running.port}\n`);
process.on("SIGTERM", () => {
  report.close();
  void running.close().then(() => process.exit(0));
});

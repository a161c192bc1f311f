/**
 * Topics end to end, on the embedded broker and on NATS JetStream: `node --import tsx bench/topics.ts
 * [--messages n] [--concurrency n] [--rate n] [--subjects n] [--store sqlite|memory] [--profile <dir>]
 * [--eventing nats://host:port | --eventing nats]` (after `npm run build`; `--profile` writes a
 * V8 CPU profile of the proxy there). With `--eventing` the same load runs twice in one
 * invocation, on the embedded broker and then on NATS (`nats` starts a throw-away
 * `nats-server -js` with its store in a temp dir; a URL uses that server, whose streams
 * then also hold earlier runs' messages).
 *
 * Starts the topic tests' user function and the real `switchboard start` CLI (SQLite
 * file, WAL, synchronous=FULL by default), each in its own process. A reader follows the
 * "shipments" topic over server-sent events; then `--messages` orders are published with
 * `POST /v1/topics/orders` by `--concurrency` concurrent publishers (HTTP/1.1 keep-alive),
 * or with `--rate`, one every 1/rate seconds whatever the answers (open loop: the latency
 * at a load the consumer keeps up with). With `--subjects n` the orders carry `ce-subject`
 * customer-0 … customer-(n-1) in turn: the consumer delivers in order per subject, and
 * different subjects at once; without, every order shares one key and goes one at a time.
 * The proxy's consumer delivers each order to `OrderProcessor/Process`, whose reply is
 * published to "shipments". Prints the publish rate (202s per second), the end-to-end rate
 * (shipments per second from the first publish to the last shipment) and the latency from
 * each publish's send to its shipment's arrival at the reader.
 */
import * as http from "node:http";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { type NatsServer, startNatsServer } from "../test/topics/support/nats-server.js";
import { freePort, ROOT, startChild, startProxy } from "./support/processes.js";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "32" },
    store: { type: "string", default: "sqlite" },
    rate: { type: "string" },
    profile: { type: "string" },
    subjects: { type: "string", default: "0" },
    eventing: { type: "string" },
  },
});
const total = Number(values.messages);
const subjects = Number(values.subjects);
const concurrency = Number(values.concurrency);
mkdirSync(path.join(ROOT, "bench/.tmp"), { recursive: true });
const tmp = mkdtempSync(path.join(ROOT, "bench/.tmp/topics-"));

const ufPort = await freePort();
const uf = await startChild({
  label: "user function (orders, TypeScript SDK)",
  command: process.execPath,
  args: ["--import", "tsx", path.join(ROOT, "bench/topics-user-function.ts"), "--port", String(ufPort)],
  ready: /^topics user function ready/m,
  timeoutMs: 30_000,
});

let natsServer: NatsServer | undefined;
const brokers: Array<{ label: string; url: string | undefined }> = [{ label: "embedded broker", url: undefined }];
if (values.eventing !== undefined) {
  if (values.eventing === "nats") natsServer = await startNatsServer();
  brokers.push({
    label: `NATS JetStream (nats-server ${values.eventing === "nats" ? "-js, started here" : "given"})`,
    url: natsServer?.url ?? values.eventing,
  });
}

for (const [run, broker] of brokers.entries()) {
  await measure(run, broker.label, broker.url);
}
await uf.stop();
await natsServer?.close();
rmSync(tmp, { recursive: true, force: true });

/** One run: a fresh proxy on `brokerUrl` (or the embedded broker), the load, the figures. */
async function measure(run: number, label: string, brokerUrl: string | undefined): Promise<void> {
  const store = values.store === "memory" ? "memory" : `sqlite:${path.join(tmp, `topics-${run}.db`)}`;
  const proxy = await startProxy({
    userFunctionPort: ufPort,
    store,
    extraArgs: ["--admin-port", "0", ...(brokerUrl === undefined ? [] : ["--eventing", brokerUrl])],
    ...(values.profile === undefined ? {} : { cpuProfileDir: values.profile }),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  // Order ids unique to the run: a given NATS server may hold earlier runs' shipments.
  const prefix = `r${Date.now().toString(36)}-${run}-`;

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let lastArrival = 0;
  let arrived = 0;
  let resolveAll: () => void = () => undefined;
  const allArrived = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });

  // The reader: every shipment carries the order id it came from.
  const reader = http.get({ host: "127.0.0.1", port: proxy.port, path: "/v1/topics/shipments?from=0" }, (res) => {
    let buffer = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
        buffer = buffer.slice(end + 2);
        if (data === undefined) continue;
        const orderId = (JSON.parse(data) as { data?: { orderId?: string } }).data?.orderId ?? "";
        const sent = sentAt.get(orderId);
        if (sent === undefined) continue;
        sentAt.delete(orderId);
        const now = performance.now();
        latencies.push(now - sent);
        lastArrival = now;
        arrived++;
        if (arrived === total) resolveAll();
      }
    });
  });
  reader.on("error", () => undefined);

  function publish(i: number): Promise<void> {
    const orderId = `${prefix}${i}`;
    const body = JSON.stringify({ orderId, item: `item-${i % 100}`, quantity: 1 });
    return new Promise((resolve, reject) => {
      sentAt.set(orderId, performance.now());
      const req = http.request(
        {
          host: "127.0.0.1",
          port: proxy.port,
          method: "POST",
          path: "/v1/topics/orders",
          agent,
          headers: {
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": orderId,
            "ce-source": "bench",
            "ce-type": "switchboard.test.topics.Order",
            ...(subjects > 0 ? { "ce-subject": `customer-${i % subjects}` } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`publish answered ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  const started = performance.now();
  let next = 0;
  if (values.rate === undefined) {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await publish(next++);
      }),
    );
  } else {
    const interval = 1000 / Number(values.rate);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(publish(i));
    }
    await Promise.all(pending);
  }
  const published = performance.now();
  const timeout = setTimeout(() => resolveAll(), 120_000);
  await allArrived;
  clearTimeout(timeout);

  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
  const seconds = (ms: number) => ms / 1000;
  process.stdout.write(
    [
      `broker: ${label}`,
      `store: ${values.store === "memory" ? "memory" : "sqlite (WAL, synchronous=FULL)"}; ${total} orders, ${values.rate === undefined ? `${concurrency} concurrent publishers` : `${values.rate}/s open loop`}; ${subjects > 0 ? `${subjects} subjects` : "no subject"}`,
      `publish: ${Math.round(total / seconds(published - started))} messages/s (202 once durable)`,
      `end to end (orders → OrderProcessor/Process → shipments → reader): ${arrived} of ${total} arrived, ${Math.round(arrived / seconds(lastArrival - started))} messages/s`,
      `publish → shipment at the reader: p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`,
      "",
    ].join("\n"),
  );
  reader.destroy();
  agent.destroy();
  await proxy.stop();
}

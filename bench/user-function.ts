/**
 * The benchmark's user function: the raw-protocol TCK model of test/support, started
 * in its own process (never inside the load generator) on 127.0.0.1:<port>.
 *
 *   node --import tsx bench/user-function.ts --port 8080 [--socket /tmp/uf.sock]
 *
 * With `--socket` the same server also listens on that Unix domain socket (removed first
 * when a killed run left it), so TCP and socket proxies can share one user-function process.
 *
 * Two changes for long runs, both outside the model itself:
 * - the model records every message it sees (for tests); here those records are not
 *   kept, so memory and GC stay flat under load;
 * - event-sourced streams of entities whose id starts with `act-` print a timing line
 *   when each of their first two commands arrives (`bench-es {json}`): wall-clock
 *   times in ms (performance.timeOrigin + performance.now()) of init, first and last
 *   replayed event, and the command. The activation scenario reads them.
 */
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { startModelUserFunction } from "../test/support/model-user-function.js";

const { values } = parseArgs({ options: { port: { type: "string", default: "8080" }, socket: { type: "string" } } });
if (values.socket !== undefined) rmSync(values.socket, { force: true });
const uf = await startModelUserFunction({ port: Number(values.port), ...(values.socket !== undefined ? { socket: values.socket } : {}) });

const wallMs = () => performance.timeOrigin + performance.now();
const discard = () => 0;

// Actions: keep no record of calls.
uf.actionCalls.push = discard;

// Value entities: keep the stream records (one per entity) but not their messages.
const pushStream = uf.streams.push.bind(uf.streams);
uf.streams.push = (...records) => {
  for (const r of records) r.messages.push = discard;
  return pushStream(...records);
};

// Event-sourced entities: no message records, timing lines for `act-` entities.
uf.esStreams.push = (...records) => {
  for (const r of records) {
    let init = 0;
    let entityId = "";
    let snapshot = false;
    let events = 0;
    let firstEvent = 0;
    let lastEvent = 0;
    let commands = 0;
    r.messages.push = (...messages) => {
      for (const message of messages) {
        const m = message.message;
        if (m.case === "init") {
          init = wallMs();
          entityId = m.value.entityId;
          snapshot = m.value.snapshot?.snapshot !== undefined;
        } else if (m.case === "event") {
          lastEvent = wallMs();
          if (events === 0) firstEvent = lastEvent;
          events++;
        } else if (m.case === "command" && commands < 2) {
          commands++;
          if (entityId.startsWith("act-")) {
            const line = { entityId, n: commands, snapshot, events, init, firstEvent, lastEvent, command: wallMs() };
            process.stdout.write(`bench-es ${JSON.stringify(line)}\n`);
          }
        }
      }
      return 0;
    };
  }
  return 0;
};

process.stdout.write(`bench user function ready on 127.0.0.1:${uf.port}${values.socket !== undefined ? ` and unix:${values.socket}` : ""}\n`);
const stop = () => {
  void uf.close().then(() => {
    if (values.socket !== undefined) rmSync(values.socket, { force: true });
    process.exit(0);
  });
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

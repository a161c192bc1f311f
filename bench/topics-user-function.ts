/**
 * The topic tests' user function (orders → shipments) as a process of its own for
 * bench/topics.ts: `node --import tsx bench/topics-user-function.ts --port <port>`.
 * It keeps no record of calls (the bench would only grow it).
 */
import { parseArgs } from "node:util";
import { startOrdersUserFunction } from "../test/topics/support/orders-user-function.js";

const { values } = parseArgs({ options: { port: { type: "string", default: "8080" } } });
const uf = await startOrdersUserFunction(Number(values.port));
setInterval(() => {
  uf.calls.length = 0;
}, 1000).unref();
process.stdout.write(`topics user function ready on 127.0.0.1:${uf.port}\n`);
process.on("SIGTERM", () => void uf.close().then(() => process.exit(0)));

#!/usr/bin/env node
// `npm start`: the demo. Runs the example counter user function and the Switchboard proxy
// beside it (`switchboard run`), in the foreground, with state in .switchboard/switchboard.db.
// Ports: USER_FUNCTION_PORT (default 8080) and HTTP_PORT (default 9000). Ctrl-C stops both.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const userFunction = `${root}examples/counter/dist/main.js`;
const proxyBin = `${root}packages/proxy/bin/switchboard.mjs`;
if (!existsSync(userFunction) || !existsSync(`${root}packages/proxy/dist/main.js`)) {
  console.error("The demo is not built yet: run `npm ci` (or `npm run build`) first.");
  process.exit(1);
}

const httpPort = process.env.HTTP_PORT || "9000";
const demo = spawn(process.execPath, [proxyBin, "run", "--", process.execPath, userFunction], {
  cwd: process.cwd(),
  env: { ...process.env, HTTP_PORT: httpPort, USER_FUNCTION_HOST: "127.0.0.1", USER_FUNCTION_PORT: process.env.USER_FUNCTION_PORT || "8080" },
  stdio: ["ignore", "pipe", "inherit"],
});
demo.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  if (/switchboard ready on/.test(String(chunk))) printUsage();
});
demo.once("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" || signal === "SIGTERM" ? 0 : 1)));
// Ctrl-C reaches the whole process group; a signal sent to this process alone is passed on.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => demo.kill(signal));

function printUsage() {
  console.log(`
Switchboard demo: a counter value entity (com.example.counter.CounterService) on embedded SQLite.

  List:  npx switchboard list --address 127.0.0.1:${httpPort}
  CLI:   npx switchboard call --address 127.0.0.1:${httpPort} com.example.counter.CounterService/GetCurrentCounter '{"counterId":"c1"}'
  HTTP:  curl -s -XPOST localhost:${httpPort}/counters/c1/increase -H 'content-type: application/json' -d '{"value":5}'
         curl -s localhost:${httpPort}/counters/c1
  gRPC:  grpcurl -plaintext -d '{"counter_id":"c1","value":5}' 127.0.0.1:${httpPort} com.example.counter.CounterService/Increase

Press Ctrl-C to stop.`);
}

#!/usr/bin/env node
// `npm start`: the demo. Runs the example counter user function on 127.0.0.1:8080 and
// the Switchboard proxy on port 9000 (state in .switchboard/switchboard.db), in the
// foreground. Ctrl-C stops both.
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

const children = [];
let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  setTimeout(() => process.exit(code), 3000).unref();
  void Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null))).then(() => process.exit(code));
}

function run(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  child.stdout.on("data", (chunk) => {
    process.stdout.write(chunk);
    if (name === "proxy" && /switchboard ready on/.test(String(chunk))) printUsage();
  });
  child.once("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping the demo`);
      stop(code === 0 ? 1 : (code ?? 1));
    }
  });
  return child;
}

function printUsage() {
  console.log(`
Switchboard demo: a counter value entity (com.example.counter.CounterService) on embedded SQLite.

  gRPC:  grpcurl -plaintext -import-path packages/protocol/proto -import-path examples/counter/proto -proto counter.proto \\
           -d '{"counter_id":"c1","value":5}' 127.0.0.1:9000 com.example.counter.CounterService/Increase
  CLI:   npx switchboard call com.example.counter.CounterService/GetCurrentCounter '{"counterId":"c1"}'
  HTTP:  curl -s -XPOST localhost:9000/counters/c1/increase -H 'content-type: application/json' -d '{"value":5}'
         curl -s localhost:9000/counters/c1

Press Ctrl-C to stop.`);
}

process.once("SIGINT", () => stop(0));
process.once("SIGTERM", () => stop(0));
// Ports are the Cloudstate defaults; DEMO_USER_FUNCTION_PORT and HTTP_PORT move them (tests do).
const userFunctionPort = process.env.DEMO_USER_FUNCTION_PORT ?? "8080";
run("user function", [userFunction], { HOST: "127.0.0.1", PORT: userFunctionPort });
run("proxy", [proxyBin, "start"], { USER_FUNCTION_HOST: "127.0.0.1", USER_FUNCTION_PORT: userFunctionPort, HTTP_PORT: process.env.HTTP_PORT ?? "9000" });

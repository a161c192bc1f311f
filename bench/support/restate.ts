/**
 * The Restate peer: restate-server 1.7 (the single binary from npm
 * @restatedev/restate-server) and a keyed counter virtual object written with the
 * Restate TypeScript SDK (bench/peers/restate/counter.mjs), each in its own process,
 * both on 127.0.0.1. The pinned packages live in bench/peers/restate and are
 * installed there on first use (`npm ci`), never by the repository's root install.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { request } from "undici";
import { type Child, freePort, ROOT, startChild, waitForPort } from "./processes.js";

const run = promisify(execFile);

export const RESTATE_DIR = path.join(ROOT, "bench/peers/restate");
const BINARY = path.join(RESTATE_DIR, "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server");

/** A step of bringing Restate up failed; `step` says which, for RESULTS.md. */
export class RestateUnavailable extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`${step}: ${detail}`);
  }
}

/** Installs the pinned Restate packages if they are missing; returns the server version. */
export async function ensureRestateInstalled(log: (m: string) => void): Promise<string> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new RestateUnavailable("platform", `the benchmark runs the linux-x64 restate-server binary; this is ${process.platform}-${process.arch}`);
  }
  if (!existsSync(BINARY)) {
    log("restate: installing the pinned packages in bench/peers/restate (npm ci)");
    try {
      await run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: RESTATE_DIR, timeout: 300_000 });
    } catch (error) {
      throw new RestateUnavailable("npm ci in bench/peers/restate", (error as Error).message.split("\n")[0] ?? "failed");
    }
    if (!existsSync(BINARY)) throw new RestateUnavailable("npm ci in bench/peers/restate", `no binary at ${path.relative(ROOT, BINARY)} after install`);
  }
  try {
    const { stdout } = await run(BINARY, ["--version"], { timeout: 20_000 });
    return stdout.trim();
  } catch (error) {
    throw new RestateUnavailable("restate-server --version", (error as Error).message.split("\n")[0] ?? "failed");
  }
}

/** A running Restate server with the counter service registered. */
export interface RestatePeer {
  readonly version: string;
  readonly server: Child;
  readonly service: Child;
  readonly ingressPort: number;
  stop(): Promise<void>;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.statusCode, text: await response.body.text() };
}

/** Starts restate-server (data under `dataDir`) and the counter service, and registers it. */
export async function startRestate(dataDir: string, log: (m: string) => void): Promise<RestatePeer> {
  const version = await ensureRestateInstalled(log);
  mkdirSync(dataDir, { recursive: true });
  const [ingressPort, adminPort, fabricPort, servicePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  let server: Child;
  try {
    server = await startChild({
      label: "restate-server",
      command: BINARY,
      args: ["--base-dir", dataDir, "--no-logo", "--listen-mode", "tcp", "--node-name", "bench"],
      env: {
        RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
        RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
        RESTATE_BIND_ADDRESS: `127.0.0.1:${fabricPort}`,
        RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${fabricPort}/`,
        RESTATE_DISABLE_TELEMETRY: "true",
        RESTATE_LOG_FILTER: "warn",
        RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      },
      ready: { port: ingressPort },
      timeoutMs: 60_000,
    });
    await waitForPort(adminPort, 60_000);
  } catch (error) {
    throw new RestateUnavailable("starting restate-server", (error as Error).message.split("\n")[0] ?? "failed");
  }
  let service: Child;
  try {
    service = await startChild({
      label: "restate counter service (TypeScript SDK)",
      command: process.execPath,
      args: [path.join(RESTATE_DIR, "counter.mjs")],
      cwd: RESTATE_DIR,
      env: { HOST: "127.0.0.1", PORT: String(servicePort) },
      ready: /^restate counter ready on \S+/m,
      timeoutMs: 30_000,
    });
  } catch (error) {
    await server.stop();
    throw new RestateUnavailable("starting the counter service (Restate TypeScript SDK)", (error as Error).message.split("\n")[0] ?? "failed");
  }
  const stop = async () => {
    await service.stop();
    await server.stop(30_000);
  };
  try {
    // Registration may race the admin service coming up: retry for a while.
    let registered: { status: number; text: string } | undefined;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      registered = await postJson(`http://127.0.0.1:${adminPort}/deployments`, { uri: `http://127.0.0.1:${servicePort}`, force: true }).catch((e: Error) => ({
        status: 0,
        text: e.message,
      }));
      if (registered.status >= 200 && registered.status < 300) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!registered || registered.status < 200 || registered.status >= 300) {
      throw new RestateUnavailable("registering the counter deployment", `admin answered ${registered?.status}: ${registered?.text.slice(0, 200)}`);
    }
    // The ingress learns about the new service asynchronously.
    let ok = false;
    while (Date.now() < until && !ok) {
      const r = await postJson(`http://127.0.0.1:${ingressPort}/Counter/warmup/add`, 1).catch((e: Error) => ({ status: 0, text: e.message }));
      ok = r.status === 200;
      if (!ok) await new Promise((res) => setTimeout(res, 250));
    }
    if (!ok) throw new RestateUnavailable("first call through the ingress", "Counter/warmup/add never answered 200");
  } catch (error) {
    await stop();
    throw error instanceof RestateUnavailable ? error : new RestateUnavailable("registering the counter deployment", (error as Error).message);
  }
  log(`restate: ${version} up (ingress 127.0.0.1:${ingressPort})`);
  return { version, server, service, ingressPort, stop };
}

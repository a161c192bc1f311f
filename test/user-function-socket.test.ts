/**
 * The user-function channel over a Unix domain socket, through real processes: the
 * counter example (TypeScript SDK, `serve()` listening where USER_FUNCTION_SOCKET says)
 * behind the `switchboard` CLI started with --user-function-socket. gRPC and HTTP/JSON
 * calls, a durable value-entity write read back by a new proxy on the same SQLite file,
 * a user function killed -9 (its socket file left behind) and started again, `switchboard
 * run` handing the socket to the user function, and the bad inputs: a path that is not a
 * socket, no socket yet, permission denied, TLS with a socket. A TCP user function beside
 * it keeps working.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CurrentCounterSchema, GetCounterSchema, IncreaseValueSchema } from "../examples/counter/src/gen/counter_pb.js";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { type ExampleProcess, startExample } from "./observability/support/example-process.js";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { type ProxyProcess, SWITCHBOARD_BIN, startProxy } from "./support/proxy-process.js";

const COUNTER_MAIN = fileURLToPath(new URL("../examples/counter/dist/main.js", import.meta.url));

/** The counter example listening on the Unix socket `socket` (serve() reads USER_FUNCTION_SOCKET). */
async function startSocketCounter(socket: string): Promise<{ child: ChildProcess; output: () => string; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [COUNTER_MAIN], {
    env: { ...process.env, USER_FUNCTION_SOCKET: socket, HOST: "127.0.0.1", PORT: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  await eventually(() => output.includes(`listening on unix:${socket}`) || child.exitCode !== null, 20_000, "the counter's listening line");
  assert.match(output, new RegExp(`listening on unix:${socket.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} serving com\\.example\\.counter\\.CounterService`));
  return {
    child,
    output: () => output,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await once(child, "exit");
    },
  };
}

async function increaseOverJson(port: number, id: string, value: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/counters/${id}/increase`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ value }),
  });
  assert.equal(response.status, 200, await response.text());
}

async function readOverJson(port: number, id: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/counters/${id}`);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return Number((JSON.parse(text) as { value?: string }).value ?? 0);
}

async function readOverGrpc(port: number, id: string): Promise<bigint> {
  const client = createTestClient(port);
  try {
    const result = await client.unary("/com.example.counter.CounterService/GetCurrentCounter", GetCounterSchema, CurrentCounterSchema, { counterId: id });
    assert.equal(result.code, 0, result.details);
    return result.messages[0]?.value ?? -1n;
  } finally {
    client.close();
  }
}

/** Starts `switchboard start` with these arguments that must exit at once, and returns its exit code and stderr. */
function startFailing(args: string[], env: Record<string, string> = {}, user?: string): { status: number | null; stderr: string } {
  const command = user === undefined ? [process.execPath, SWITCHBOARD_BIN] : ["runuser", "-u", user, "--", process.execPath, SWITCHBOARD_BIN];
  const run = spawnSync(command[0] as string, [...command.slice(1), "start", "--http-port", "0", "--admin-port", "0", "--store", "memory", ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: run.status, stderr: run.stderr };
}

describe("the user function over a Unix domain socket", () => {
  let dir: string;
  let socket: string;
  let counter: Awaited<ReturnType<typeof startSocketCounter>> | undefined;
  let proxy: ProxyProcess | undefined;
  let tcpCounter: ExampleProcess | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sb-uds-"));
    socket = join(dir, "uf.sock");
    counter = await startSocketCounter(socket);
  });
  after(async () => {
    await proxy?.kill();
    await counter?.kill();
    await tcpCounter?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves gRPC and HTTP/JSON calls, writes durably, and survives a kill -9 of the user function", async () => {
    const store = `sqlite:${join(dir, "state.db")}`;
    // The port flags point at nothing: the socket wins over them.
    proxy = await startProxy({ userFunctionPort: 1, store, extraArgs: ["--user-function-socket", socket] });
    assert.match(proxy.stderr(), new RegExp(`userFunction=unix:${socket}`));
    await increaseOverJson(proxy.port, "uds", 3);
    const client = createTestClient(proxy.port);
    try {
      const increased = await client.unary("/com.example.counter.CounterService/Increase", IncreaseValueSchema, EmptySchema, { counterId: "uds", value: 4n });
      assert.equal(increased.code, 0, increased.details);
    } finally {
      client.close();
    }
    assert.equal(await readOverGrpc(proxy.port, "uds"), 7n);
    assert.equal(await readOverJson(proxy.port, "uds"), 7);

    // The write is durable: a new proxy on the same file reads it back over the socket.
    assert.equal(await proxy.stop(), 0);
    proxy = await startProxy({ userFunctionPort: 1, store, extraArgs: ["--user-function-socket", socket] });
    assert.equal(await readOverJson(proxy.port, "uds"), 7);

    // kill -9 leaves the socket file behind; the restarted user function replaces it and the proxy reconnects.
    await counter?.kill();
    assert.ok(lstatSync(socket).isSocket(), "the killed user function's socket file is still there");
    const down = await fetch(`http://127.0.0.1:${proxy.port}/counters/uds`);
    assert.equal(down.status, 503, await down.text());
    counter = await startSocketCounter(socket);
    const port = proxy.port;
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/counters/uds`)).status === 200, 15_000, "the proxy serving again after the restart");
    await increaseOverJson(proxy.port, "uds", 1);
    assert.equal(await readOverGrpc(proxy.port, "uds"), 8n);
    assert.equal(await proxy.stop(), 0);
    proxy = undefined;
  });

  it("leaves a TCP user function unaffected beside it", async () => {
    tcpCounter = await startExample("counter");
    const tcp = await startProxy({ userFunctionPort: tcpCounter.port });
    const viaSocket = await startProxy({ userFunctionPort: tcpCounter.port, extraArgs: ["--user-function-socket", socket] });
    try {
      assert.match(tcp.stderr(), new RegExp(`userFunction=127\\.0\\.0\\.1:${tcpCounter.port}`));
      await increaseOverJson(tcp.port, "tcp", 5);
      await increaseOverJson(viaSocket.port, "tcp", 2);
      // Two user functions, two memory stores: each proxy sees only its own writes.
      assert.equal(await readOverGrpc(tcp.port, "tcp"), 5n);
      assert.equal(await readOverGrpc(viaSocket.port, "tcp"), 2n);
    } finally {
      await Promise.all([tcp.stop(), viaSocket.stop()]);
    }
  });

  it("switchboard run hands the socket to the user function it starts, and both stop on SIGINT", async () => {
    const runSocket = join(dir, "run.sock");
    const child = spawn(
      process.execPath,
      [
        SWITCHBOARD_BIN,
        "run",
        "--user-function-socket",
        runSocket,
        "--http-port",
        "0",
        "--admin-port",
        "0",
        "--store",
        "memory",
        "--",
        process.execPath,
        COUNTER_MAIN,
      ],
      { stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    try {
      await eventually(() => /switchboard ready on \S+:(\d+)/.test(out) || child.exitCode !== null, 30_000, "switchboard run ready");
      const port = Number(/switchboard ready on \S+:(\d+)/.exec(out)?.[1]);
      assert.ok(port > 0, `${out}\n${err}`);
      assert.match(err, new RegExp(`listening on unix:${runSocket}`));
      await increaseOverJson(port, "run", 2);
      assert.equal(await readOverJson(port, "run"), 2);
      // Ctrl-C reaches the whole process group, as from a terminal.
      process.kill(-(child.pid as number), "SIGINT");
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0, err);
      assert.equal(existsSync(runSocket), false, "the user function removed its socket file at stop");
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
    }
  });

  it("waits for a socket that is not there yet, saying so, and answers 503 meanwhile", async () => {
    const missing = join(dir, "later.sock");
    const waiting = await startProxy({ userFunctionPort: 1, waitFor: "spawn", extraArgs: ["--user-function-socket", missing] });
    try {
      await eventually(
        () => waiting.stderr().includes(`no socket at ${missing} — is the user function running and listening on it?`),
        15_000,
        "the waiting line",
      );
      assert.doesNotMatch(waiting.stdout(), /switchboard ready/);
      const bound = /front port bound address=\S+:(\d+)/.exec(waiting.stderr());
      assert.ok(bound, waiting.stderr());
      const ready = await fetch(`http://127.0.0.1:${bound[1]}/ready`);
      assert.equal(ready.status, 503);
      // The user function comes up later: the proxy finds it.
      const late = await startSocketCounter(missing);
      try {
        await eventually(() => /switchboard ready on/.test(waiting.stdout()), 15_000, "ready once the socket exists");
        await increaseOverJson(Number(bound[1]), "late", 1);
      } finally {
        await late.kill();
      }
    } finally {
      await waiting.kill();
    }
  });

  it("refuses at start a path that is not a socket, and says what it is", () => {
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "");
    const run = startFailing(["--user-function-socket", file]);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`switchboard: the user-function socket path ${file} is a regular file, not a socket`));
    const directory = startFailing([], { USER_FUNCTION_SOCKET: dir });
    assert.equal(directory.status, 1, directory.stderr);
    assert.match(directory.stderr, /is a directory, not a socket/);
  });

  it("refuses at start a socket it may not connect to (permission denied)", () => {
    // Only its owner may write to the socket: connect(2) needs write permission.
    chmodSync(socket, 0o755);
    if (process.getuid?.() === 0) {
      // root passes every permission check: run the proxy as nobody, who may read the build but not write the socket.
      chownSync(dir, 0, 0);
      chmodSync(dir, 0o755);
      const run = startFailing(["--user-function-socket", socket], {}, "nobody");
      assert.equal(run.status, 1, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`switchboard: permission denied on the user-function socket ${socket}: the proxy's user needs write permission on it`),
      );
    } else {
      chmodSync(socket, 0o500);
      const run = startFailing(["--user-function-socket", socket]);
      chmodSync(socket, 0o755);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /permission denied on the user-function socket/);
    }
  });

  it("refuses TLS with a socket, and a path too long for a socket", () => {
    const tls = startFailing(["--user-function-socket", socket, "--user-function-tls"]);
    assert.equal(tls.status, 2, tls.stderr);
    assert.match(tls.stderr, /--user-function-socket and --user-function-tls exclude each other/);
    const long = startFailing(["--user-function-socket", join(dir, "s".repeat(120))]);
    assert.equal(long.status, 2, long.stderr);
    assert.match(long.stderr, /--user-function-socket is \d+ bytes long; a Unix socket path holds at most \d+ bytes on/);
  });
});

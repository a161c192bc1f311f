/**
 * Ready-to-load systems under test: a Switchboard proxy with its user function (both
 * in their own processes), and what a load point needs to call them.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Watched } from "../load/cpu.js";
import type { Caller } from "../load/driver.js";
import { frame, GrpcClient } from "../load/grpc.js";
import { CurrentCounterSchema, GetCounterSchema } from "../../examples/counter/src/gen/counter_pb.js";
import { counterIncreases, PATHS, valueEntityUpdates } from "./messages.js";
import { type Child, freePort, ROOT, startProxy, startUserFunction, type UserFunctionKind } from "./processes.js";

/** A running proxy + user function pair. */
export interface SwitchboardStack {
  readonly proxy: Child & { readonly port: number };
  /** The user function's TCP port (another proxy may front the same process). */
  readonly userFunctionPort: number;
  readonly userFunction: Child;
  readonly client: GrpcClient;
  readonly watched: readonly Watched[];
  stop(): Promise<void>;
}

/** Starts a user function and a proxy in front of it on `store`, and connects the load generator. */
export async function startSwitchboard(options: {
  kind: UserFunctionKind;
  store: string;
  sessions: number;
  cpuProfileDir?: string;
  /** More `switchboard start` flags (e.g. `--sqlite-commit worker`). */
  proxyArgs?: readonly string[];
  /** The proxy reaches the user function over this Unix socket instead of TCP loopback. */
  socket?: string;
  /** Another proxy build to run (`--baseline`): a folder with its bin/, dist/ and package.json. */
  root?: string;
}): Promise<SwitchboardStack> {
  const ufPort = await freePort();
  const userFunction = await startUserFunction(options.kind, ufPort, options.socket);
  let proxy: Child & { readonly port: number };
  try {
    proxy = await startProxy({
      userFunctionPort: ufPort,
      store: options.store,
      ...(options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {}),
      ...(options.proxyArgs ? { extraArgs: [...options.proxyArgs] } : {}),
      ...(options.socket ? { userFunctionSocket: options.socket } : {}),
      ...(options.root ? { root: options.root } : {}),
    });
  } catch (error) {
    await userFunction.stop();
    throw error;
  }
  const client = await GrpcClient.connect("127.0.0.1", proxy.port, options.sessions);
  return {
    proxy,
    userFunctionPort: ufPort,
    userFunction,
    client,
    watched: [
      { label: "proxy", pid: proxy.pid },
      { label: "user function", pid: userFunction.pid },
    ],
    async stop() {
      client.close();
      await proxy.stop();
      await userFunction.stop();
    },
  };
}

/** Whether examples/counter is built (its user function runs from dist/). */
export function counterExampleBuilt(): boolean {
  return existsSync(path.join(ROOT, "examples/counter/dist/main.js"));
}

/** Whether examples/shopping-cart is built. */
export function shoppingCartBuilt(): boolean {
  return existsSync(path.join(ROOT, "examples/shopping-cart/dist/main.js"));
}

/** The durable-increment workload on a stack: calls over `keys` keys, in turn. */
export interface IncrementWorkload {
  readonly description: string;
  readonly call: Caller;
  /** Successful calls so far, warm-up included. */
  readonly acknowledged: () => number;
  /** Reads every key back; says whether the stored total equals the acknowledged count (undefined: cannot tell). */
  verify(): Promise<{ ok: boolean; detail: string } | undefined>;
}

/** Increments on the counter example (`CounterService/Increase`, value 1), or updates on the TCK model. */
export function incrementWorkload(stack: SwitchboardStack, kind: "model" | "counter", keys: number): IncrementWorkload {
  let acknowledged = 0;
  const bodies = kind === "counter" ? counterIncreases(keys) : valueEntityUpdates(keys);
  const pathName = kind === "counter" ? PATHS.counterIncrease : PATHS.valueEntityProcess;
  return {
    description:
      kind === "counter"
        ? `\`com.example.counter.CounterService/Increase\` (value 1) of examples/counter, written with the TypeScript SDK; key = call number mod ${keys}`
        : `\`ValueEntityTckModel/Process\` with one \`update\` action (raw-protocol TCK model); key = call number mod ${keys}`,
    call: (_worker, seq, done) =>
      stack.client.call(pathName, bodies[seq % keys] as Buffer, (status, message) => {
        if (status === 0) {
          acknowledged++;
          done();
        } else done(`grpc-status ${status}: ${message}`);
      }),
    acknowledged: () => acknowledged,
    async verify() {
      if (kind !== "counter") return undefined;
      let total = 0n;
      await forEachLimited(keys, 32, async (i) => {
        const reply = await stack.client.unary(
          "/com.example.counter.CounterService/GetCurrentCounter",
          frame(toBinary(GetCounterSchema, create(GetCounterSchema, { counterId: `c-${i}` }))),
        );
        total += fromBinary(CurrentCounterSchema, reply).value;
      });
      const ok = total === BigInt(acknowledged);
      return { ok, detail: `${acknowledged.toLocaleString("en-US")} increments acknowledged, ${total.toLocaleString("en-US")} stored over ${keys} counters` };
    },
  };
}

/** Runs `task(0 … count-1)` with at most `limit` in flight. */
export async function forEachLimited(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** Calls `call` once for each key (seq 0 … keys-1), `concurrency` at a time; fails on the first error. */
export async function touchKeys(call: Caller, keys: number, concurrency: number): Promise<void> {
  await forEachLimited(
    keys,
    concurrency,
    (seq) => new Promise<void>((resolve, reject) => call(seq % concurrency, seq, (error) => (error === undefined ? resolve() : reject(new Error(error))))),
  );
}

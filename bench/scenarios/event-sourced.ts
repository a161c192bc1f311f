/**
 * Issue #3: event-sourced entities.
 *
 * 1. Durable commands/s and p50/p99 with 64 concurrent entities (one caller per
 *    entity, one event per command) through the proxy on SQLite (file, WAL,
 *    synchronous=FULL): AddItem on the shopping cart example (SDK) when it is built, and
 *    `emit` on the raw-protocol TCK model; against the raw batched-insert ceiling of
 *    the same database settings measured in the same run (all alternate in rounds).
 * 2. Activation of an entity with 10,000 stored events, with a snapshot at the last
 *    event and without one (full replay). The journal is written straight into the
 *    proxy's SQLite file before the proxy starts. For each entity the generator sends a
 *    cold call, then a warm one; the user function stamps when init and the command
 *    reach it. Figures (median over the entities):
 *    - end to end: the cold call's latency (and minus the warm call's);
 *    - proxy-side: from the cold command's arrival to the proxy sending the activation
 *      — (init reached the user function − cold call sent) − (warm command reached the
 *      user function − warm call sent). The proxy writes init, every event and the
 *      command in one go, so init's arrival marks the end of its activation work
 *      (journal read + encode + send); the warm call subtracts the transit and the
 *      clock offset between the two processes.
 * 3. The same throughput on PostgreSQL when the proxy accepts `--store postgres://…`
 *    (a throw-away server under bench/.tmp, fsync and synchronous_commit on).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import * as path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { eventsourced } from "@switchboard/protocol/tck";
import Database from "better-sqlite3";
import { GrpcClient, generatorHttp2 } from "../load/grpc.js";
import { type Caller, closedLoop, interleave, monotonicUs, type PointResult, type Variant } from "../load/driver.js";
import { bottleneck, ms, pointsTable, rate, ratio } from "../support/format.js";
import { CartSchema } from "../../examples/shopping-cart/src/gen/shoppingcart/shoppingcart_pb.js";
import { addItemRequest, emitRequest, getCartRequest, PATHS, persistedEvent, readRequest } from "../support/messages.js";
import { postgresCeiling, sqliteCeiling } from "../support/ceiling.js";
import { PostgresUnavailable, startPostgres } from "../support/postgres.js";
import { proxyDist, ROOT, switchboardBin } from "../support/processes.js";
import { analyseProfile, newestProfile, type ProfileSummary, profileMarkdown } from "../support/profile.js";
import { shoppingCartBuilt, type SwitchboardStack, startSwitchboard } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const PERSISTENCE_ID = "event-sourced-tck-model";
const ACTIVATION_EVENTS = 10_000;
const ACTIVATION_ENTITIES = 5;
const TARGET_THROUGHPUT = 10_000;

/** Which user function the throughput runs against. */
export type EsKind = "shopping-cart" | "model";

/** The durable-command workload: one entity per caller. */
export interface EsWorkload {
  readonly kind: EsKind;
  readonly label: string;
  readonly call: Caller;
  /** Reads every entity back: does the state hold every acknowledged command? (undefined: cannot tell) */
  verify(): Promise<string | undefined>;
}

/**
 * `client` (default: the stack's) sends the calls; `prefix` names the entities, so two
 * workloads on one stack keep apart.
 */
export function esWorkload(stack: SwitchboardStack, kind: EsKind, concurrency: number, client: GrpcClient = stack.client, prefix = ""): EsWorkload {
  let acked = 0;
  const finish = (done: (error?: string) => void) => (status: number, message: string) => {
    if (status === 0) {
      acked++;
      done();
    } else done(`grpc-status ${status}: ${message}`);
  };
  if (kind === "shopping-cart") {
    const bodies = Array.from({ length: concurrency }, (_, w) => addItemRequest(`${prefix}cart-${w}`));
    return {
      kind,
      label: "shopping cart AddItem (SDK)",
      call: (worker, _seq, done) => client.call(PATHS.cartAddItem, bodies[worker % concurrency] as Buffer, finish(done)),
      async verify() {
        let stored = 0;
        for (let w = 0; w < concurrency; w++) {
          const cart = fromBinary(CartSchema, await client.unary(PATHS.cartGet, getCartRequest(`${prefix}cart-${w}`)));
          for (const item of cart.items) stored += item.quantity;
        }
        return `${stored === acked ? "OK" : "MISMATCH"} — ${acked.toLocaleString("en-US")} AddItem acknowledged, ${stored.toLocaleString("en-US")} units in the ${concurrency} carts`;
      },
    };
  }
  const bodies = Array.from({ length: concurrency }, (_, w) => emitRequest(`${prefix}es-${w}`));
  return {
    kind,
    label: "TCK model emit (raw protocol)",
    call: (worker, _seq, done) => client.call(PATHS.eventSourcedProcess, bodies[worker % concurrency] as Buffer, finish(done)),
    verify: async () => undefined,
  };
}

/** Writes `entities` journals of `events` events each (and snapshots for the `act-snap-` ones) into a fresh proxy database. */
async function prepareActivationDb(file: string, entities: number, events: number): Promise<void> {
  const { migrate } = (await import(new URL(`file://${proxyDist("store/sqlite/schema.js")}`).href)) as {
    migrate: (db: Database.Database, d: string) => void;
  };
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  migrate(db, `sqlite:${file}`);
  const insert = db.prepare("INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag, written_at) VALUES (?, ?, ?, ?, ?, ?)");
  const snapshot = db.prepare("INSERT INTO snapshot (persistence_id, seq_nr, type_url, payload) VALUES (?, ?, ?, ?)");
  const event = persistedEvent("x");
  const state = persistedEvent("x".repeat(events));
  db.transaction(() => {
    const now = Date.now();
    for (let i = 0; i < entities; i++) {
      for (const variant of ["nosnap", "snap"]) {
        const journal = `${PERSISTENCE_ID}|act-${variant}-${i}`;
        for (let seq = 1; seq <= events; seq++) insert.run(journal, seq, event.typeUrl, event.value, PERSISTENCE_ID, now);
        if (variant === "snap") snapshot.run(journal, events, state.typeUrl, state.value);
      }
    }
  })();
  db.close();
}

interface UfTiming {
  entityId: string;
  n: number;
  snapshot: boolean;
  events: number;
  init: number;
  firstEvent: number;
  lastEvent: number;
  command: number;
}

interface Activation {
  readonly e2eMs: number;
  readonly warmMs: number;
  readonly proxySideMs: number;
  readonly ufReplayMs: number;
  readonly eventsSeen: number;
  readonly snapshotSeen: boolean;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

/**
 * Cold then warm calls on every prepared entity. With `cpuProfileDir` the proxy is
 * profiled and the window of the cold calls returned (the journal is unchanged by these
 * calls, so a fresh proxy on the same file activates the entities again).
 */
async function measureActivation(file: string, cpuProfileDir?: string): Promise<{ snap: Activation[]; nosnap: Activation[]; windowUs: [number, number] }> {
  const stack = await startSwitchboard({ kind: "model", store: `sqlite:${file}`, sessions: 1, ...(cpuProfileDir ? { cpuProfileDir } : {}) });
  const timings = new Map<string, UfTiming>();
  stack.userFunction.onLine((line) => {
    if (!line.startsWith("bench-es ")) return;
    const t = JSON.parse(line.slice("bench-es ".length)) as UfTiming;
    timings.set(`${t.entityId}#${t.n}`, t);
  });
  const wall = () => performance.timeOrigin + performance.now();
  const expected = "x".repeat(ACTIVATION_EVENTS);
  const out = { snap: [] as Activation[], nosnap: [] as Activation[], windowUs: [0, 0] as [number, number] };
  try {
    // Warm the path (connections, JIT) on an entity with no journal.
    for (let i = 0; i < 20; i++) await stack.client.unary(PATHS.eventSourcedProcess, readRequest("warmup"));
    out.windowUs[0] = monotonicUs();
    for (let i = 0; i < ACTIVATION_ENTITIES; i++) {
      for (const variant of ["nosnap", "snap"] as const) {
        const id = `act-${variant}-${i}`;
        const body = readRequest(id);
        const sent1 = wall();
        const t1 = performance.now();
        const reply = await stack.client.unary(PATHS.eventSourcedProcess, body);
        const e2e = performance.now() - t1;
        const message = fromBinary(eventsourced.ResponseSchema, reply).message;
        if (message !== expected) throw new Error(`activation of ${id}: the replayed state has ${message.length} characters, expected ${expected.length}`);
        const sent2 = wall();
        const t2 = performance.now();
        await stack.client.unary(PATHS.eventSourcedProcess, body);
        const warm = performance.now() - t2;
        // The timing lines may trail the replies a little.
        for (let w = 0; w < 100 && !(timings.has(`${id}#1`) && timings.has(`${id}#2`)); w++) await new Promise((r) => setTimeout(r, 10));
        const cold = timings.get(`${id}#1`);
        const hot = timings.get(`${id}#2`);
        if (!cold || !hot) throw new Error(`no timing lines from the user function for ${id}`);
        out[variant].push({
          e2eMs: e2e,
          warmMs: warm,
          proxySideMs: cold.init - sent1 - (hot.command - sent2),
          ufReplayMs: cold.command - cold.init,
          eventsSeen: cold.events,
          snapshotSeen: cold.snapshot,
        });
      }
    }
    out.windowUs[1] = monotonicUs();
  } finally {
    await stack.stop();
  }
  return out;
}

/** Whether this proxy build accepts a PostgreSQL store (a missing adapter fails at start with a clear message). */
async function postgresAdapterState(): Promise<{ built: boolean; detail: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        switchboardBin(),
        "start",
        "--bind",
        "127.0.0.1",
        "--http-port",
        "0",
        "--user-function-port",
        "1",
        "--store",
        "postgres://postgres@127.0.0.1:1/postgres",
      ],
      {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
    child.on("exit", () => {
      clearTimeout(timer);
      const notBuilt = /not available in this build|not supported|unimplemented/i.test(err);
      resolve({ built: !notBuilt, detail: err.trim().split("\n").pop() ?? "" });
    });
  });
}

async function measurePostgres(ctx: BenchContext, kind: EsKind): Promise<{ points: PointResult[]; note: string } | { notRun: string }> {
  const adapter = await postgresAdapterState();
  if (!adapter.built) return { notRun: `the PostgreSQL store adapter is not built yet (the proxy answers: "${adapter.detail.slice(0, 160)}")` };
  let server: Awaited<ReturnType<typeof startPostgres>>;
  try {
    server = await startPostgres(path.join(ctx.tmpDir, "postgres"));
  } catch (error) {
    return { notRun: error instanceof PostgresUnavailable ? `PostgreSQL could not be started: ${error.message}` : String(error) };
  }
  let stack: SwitchboardStack | undefined;
  const ceiling = postgresCeiling(server.url, ctx.concurrency);
  try {
    stack = await startSwitchboard({ kind, store: server.url, sessions: ctx.sessions });
    const s = stack;
    const workload = esWorkload(s, kind, ctx.concurrency);
    const call = workload.call;
    ctx.log("event-sourced: PostgreSQL, proxy vs raw batched insert");
    const points = await interleave(
      [
        {
          label: "proxy",
          run: (durationMs, warmupMs) =>
            closedLoop({ label: `${workload.label}, PostgreSQL`, concurrency: ctx.concurrency, durationMs, warmupMs, watched: s.watched, call }),
        },
        ceiling,
      ],
      { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log },
    );
    return {
      points,
      note: `PostgreSQL 15 started for this run (fsync=on, synchronous_commit=on, shared_buffers=256MB), data under bench/.tmp; its CPU (postmaster + backends) is not in the table.`,
    };
  } catch (error) {
    return { notRun: `the PostgreSQL run failed: ${(error as Error).message.split("\n")[0]}` };
  } finally {
    await ceiling.close().catch(() => {});
    await stack?.stop();
    await server.stop();
  }
}

export const eventSourcedScenario: Scenario = {
  id: "event-sourced",
  title: "Event-sourced entities: durable emits, batched-insert ceiling, activation",
  issue: 3,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    // 1. Throughput on SQLite against the raw ceiling.
    const kinds: EsKind[] = shoppingCartBuilt() ? ["shopping-cart", "model"] : ["model"];
    const stacks: { stack: SwitchboardStack; workload: EsWorkload }[] = [];
    const notes: string[] = [];
    if (!kinds.includes("shopping-cart"))
      notes.push("examples/shopping-cart is not built (no examples/shopping-cart/dist/main.js), so only the raw-protocol model ran.");
    const ceiling = sqliteCeiling(path.join(ctx.tmpDir, "ceiling.db"), ctx.concurrency);
    let points: PointResult[];
    let profileBody = "";
    let throughputProfile: ProfileSummary | undefined;
    const verifications: string[] = [];
    let nodeGenerator: GrpcClient | undefined;
    let generatorVariant: { stack: SwitchboardStack; workload: EsWorkload } | undefined;
    try {
      for (const kind of kinds) {
        try {
          const stack = await startSwitchboard({ kind, store: `sqlite:${path.join(ctx.tmpDir, `event-sourced-${kind}.db`)}`, sessions: ctx.sessions });
          stacks.push({ stack, workload: esWorkload(stack, kind, ctx.concurrency) });
        } catch (error) {
          notes.push(`The ${kind} user function could not be run: ${(error as Error).message.split("\n")[0]}`);
        }
      }
      if (stacks.length === 0) throw new Error(notes.join(" "));
      if (ctx.baselineProxy !== undefined) {
        // The earlier build, when asked for: the headline stack once more, in the same rounds.
        const kind = (stacks[0] as { workload: EsWorkload }).workload.kind;
        const stack = await startSwitchboard({
          kind,
          store: `sqlite:${path.join(ctx.tmpDir, `event-sourced-${kind}-baseline.db`)}`,
          sessions: ctx.sessions,
          root: ctx.baselineProxy,
        });
        const workload = esWorkload(stack, kind, ctx.concurrency);
        stacks.push({ stack, workload: { ...workload, label: `${workload.label}, baseline build` } });
      }
      // The headline once more, driven by the node:http2 generator of the earlier results:
      // what the generator's own CPU takes from the two cores, in the same rounds.
      const headline = stacks[0] as { stack: SwitchboardStack; workload: EsWorkload };
      if (generatorHttp2() !== "node") {
        nodeGenerator = await GrpcClient.connect("127.0.0.1", headline.stack.proxy.port, ctx.sessions, "node");
        const workload = esWorkload(headline.stack, headline.workload.kind, ctx.concurrency, nodeGenerator, "node-generator-");
        generatorVariant = { stack: headline.stack, workload: { ...workload, label: `${workload.label}, node:http2 generator` } };
      }
      const driven = generatorVariant === undefined ? stacks : [...stacks, generatorVariant];
      ctx.log(`event-sourced: ${ctx.concurrency} concurrent entities on SQLite: ${driven.map((s) => s.workload.label).join(", ")} vs raw batched insert`);
      points = await interleave(
        [
          ...driven.map(
            ({ stack, workload }): Variant => ({
              label: workload.label,
              run: (durationMs, warmupMs) =>
                closedLoop({
                  label: `${workload.label}, SQLite FULL`,
                  concurrency: ctx.concurrency,
                  durationMs,
                  warmupMs,
                  watched: stack.watched,
                  call: workload.call,
                }),
            }),
          ),
          ceiling,
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log },
      );
      for (const { workload } of driven) {
        const v = await workload.verify();
        if (v) verifications.push(`${workload.label}: ${v}`);
      }
    } finally {
      ceiling.close();
      nodeGenerator?.close();
      for (const { stack } of stacks) await stack.stop();
    }
    const headlineKind = (stacks[0] as { workload: EsWorkload }).workload.kind;
    if (ctx.profile) {
      ctx.log(`event-sourced: profiling the proxy (${headlineKind}, separate run)`);
      const dir = path.join(ctx.profileDir, "event-sourced");
      rmSync(dir, { recursive: true, force: true });
      const profiledStack = await startSwitchboard({
        kind: headlineKind,
        store: `sqlite:${path.join(ctx.tmpDir, "event-sourced-profiled.db")}`,
        sessions: ctx.sessions,
        cpuProfileDir: dir,
      });
      let profiled: PointResult;
      try {
        profiled = await closedLoop({
          label: "profiled",
          concurrency: ctx.concurrency,
          durationMs: ctx.durationMs,
          warmupMs: ctx.warmupMs,
          call: esWorkload(profiledStack, headlineKind, ctx.concurrency).call,
        });
      } finally {
        await profiledStack.stop();
      }
      const file = newestProfile(dir);
      throughputProfile = file ? analyseProfile(file, profiled.windowUs) : undefined;
      profileBody = throughputProfile
        ? profileMarkdown(
            throughputProfile,
            `Proxy CPU profile, event-sourced commands (${headlineKind}) at ${ctx.concurrency} concurrent entities on SQLite (${rate(profiled.throughput)} while profiling)`,
          )
        : "No CPU profile was written (the proxy did not exit cleanly).";
    }

    // 2. Activation.
    const activationFile = path.join(ctx.tmpDir, "activation.db");
    ctx.log(`event-sourced: activation: writing ${ACTIVATION_ENTITIES * 2} journals of ${ACTIVATION_EVENTS.toLocaleString("en-US")} events`);
    await prepareActivationDb(activationFile, ACTIVATION_ENTITIES, ACTIVATION_EVENTS);
    ctx.log("event-sourced: activation: cold and warm calls");
    const activation = await measureActivation(activationFile);
    let activationProfile = "";
    let activationSummary: ProfileSummary | undefined;
    if (ctx.profile) {
      ctx.log("event-sourced: activation: profiling the proxy (separate run)");
      const dir = path.join(ctx.profileDir, "activation");
      rmSync(dir, { recursive: true, force: true });
      const profiled = await measureActivation(activationFile, dir);
      const file = newestProfile(dir);
      activationSummary = file ? analyseProfile(file, profiled.windowUs) : undefined;
      activationProfile = activationSummary
        ? profileMarkdown(
            activationSummary,
            `Proxy CPU profile during the activations (${ACTIVATION_ENTITIES} full replays of ${ACTIVATION_EVENTS.toLocaleString("en-US")} events and ${ACTIVATION_ENTITIES} snapshot activations, with their warm calls)`,
          )
        : "No CPU profile was written (the proxy did not exit cleanly).";
    }

    // 3. PostgreSQL.
    const pgOutcome = await measurePostgres(ctx, headlineKind);

    const proxyPoint = points[0] as PointResult;
    const baselinePoint = ctx.baselineProxy === undefined ? undefined : points[stacks.length - 1];
    const proxyCpu = (p: PointResult) => Math.round(((p.cpu.processes.proxy ?? 0) / 100) * (1e6 / p.throughput));
    const ceilingPoint = points[points.length - 1] as PointResult;
    const ceilingRatio = proxyPoint.throughput / ceilingPoint.throughput;
    const nodeGeneratorPoint = generatorVariant === undefined ? undefined : points[stacks.length];
    const generatorCpu = (p: PointResult) => Math.round(((p.cpu.generatorPct / 100) * 1e6) / p.throughput);
    const snap = activation.snap;
    const nosnap = activation.nosnap;
    const m = (list: Activation[], key: keyof Activation) => median(list.map((a) => a[key] as number));
    const checks: Check[] = [
      {
        name: `Event-sourced durable commands, SQLite synchronous=FULL, ${ctx.concurrency} concurrent entities`,
        measured: `${rate(proxyPoint.throughput)} (p50 ${ms(proxyPoint.latency.p50Ms)}, p99 ${ms(proxyPoint.latency.p99Ms)})`,
        comparison: points.length > 2 ? `${(points[1] as PointResult).label}: ${rate((points[1] as PointResult).throughput)}` : "–",
        ratio: `${(proxyPoint.throughput / TARGET_THROUGHPUT).toFixed(2)}× target`,
        target: "≥ 10,000/s",
        status: proxyPoint.throughput >= TARGET_THROUGHPUT && proxyPoint.errors === 0 ? "met" : "not met",
        ...(proxyPoint.throughput >= TARGET_THROUGHPUT ? {} : { note: bottleneck(proxyPoint, throughputProfile) }),
      },
      ...(baselinePoint !== undefined
        ? [
            {
              name: `Event-sourced durable commands, this build vs the baseline (${ctx.concurrency} concurrent entities; proxy CPU per command)`,
              measured: `${rate(proxyPoint.throughput)}, proxy ${proxyCpu(proxyPoint)} µs per command`,
              comparison: `before: ${rate(baselinePoint.throughput)}, proxy ${proxyCpu(baselinePoint)} µs per command`,
              ratio: `${ratio(proxyPoint.throughput / baselinePoint.throughput)} calls/s, ${ratio(proxyCpu(proxyPoint) / proxyCpu(baselinePoint))} CPU per command`,
              target: "measure only",
              status: "met" as const,
            },
          ]
        : []),
      {
        name: "Event-sourced commands vs the raw batched-insert ceiling (SQLite)",
        measured: rate(proxyPoint.throughput),
        comparison: `ceiling ${rate(ceilingPoint.throughput)} events (${ctx.concurrency} per transaction, p50 ${ms(ceilingPoint.latency.p50Ms)} per transaction)`,
        ratio: ratio(ceilingRatio),
        target: "≥ 0.50×",
        status: ceilingRatio >= 0.5 ? "met" : "not met",
      },
      ...(nodeGeneratorPoint !== undefined
        ? [
            {
              name: "Event-sourced commands vs the raw ceiling, driven by the node:http2 generator instead (same proxy, same rounds)",
              measured: `${rate(nodeGeneratorPoint.throughput)}, generator ${generatorCpu(nodeGeneratorPoint)} µs per command`,
              comparison: `builtin generator: ${rate(proxyPoint.throughput)}, generator ${generatorCpu(proxyPoint)} µs per command`,
              ratio: `${ratio(nodeGeneratorPoint.throughput / ceilingPoint.throughput)} of the ceiling`,
              target: "measure only",
              status: "met" as const,
            },
          ]
        : []),
      {
        name: `Activation with a snapshot (${ACTIVATION_EVENTS.toLocaleString("en-US")} events), proxy-side`,
        measured: ms(m(snap, "proxySideMs")),
        comparison: `end to end ${ms(m(snap, "e2eMs"))} (warm call ${ms(m(snap, "warmMs"))})`,
        ratio: "–",
        target: "≤ 5 ms",
        status: m(snap, "proxySideMs") <= 5 ? "met" : "not met",
      },
      {
        name: `Activation with a snapshot, end to end (first call minus a warm call)`,
        measured: ms(m(snap, "e2eMs") - m(snap, "warmMs")),
        comparison: `first call ${ms(m(snap, "e2eMs"))}`,
        ratio: "–",
        target: "≤ 5 ms",
        status: m(snap, "e2eMs") - m(snap, "warmMs") <= 5 ? "met" : "not met",
      },
      {
        name: `Activation replaying ${ACTIVATION_EVENTS.toLocaleString("en-US")} events (no snapshot), proxy-side`,
        measured: ms(m(nosnap, "proxySideMs")),
        comparison: `end to end ${ms(m(nosnap, "e2eMs"))} (warm call ${ms(m(nosnap, "warmMs"))})`,
        ratio: "–",
        target: "≤ 50 ms",
        status: m(nosnap, "proxySideMs") <= 50 ? "met" : "not met",
        ...(m(nosnap, "proxySideMs") <= 50 || activationSummary === undefined
          ? {}
          : {
              note: `proxy profile of the activations: ${activationSummary.proxyInclusive
                .slice(0, 4)
                .map((h) => `${h.name.replace(/ packages\/proxy\/dist\//, " ")} ${h.pct.toFixed(0)}%`)
                .join(", ")}`,
            }),
      },
      {
        name: `Activation replaying ${ACTIVATION_EVENTS.toLocaleString("en-US")} events, end to end (first call minus a warm call)`,
        measured: ms(m(nosnap, "e2eMs") - m(nosnap, "warmMs")),
        comparison: `first call ${ms(m(nosnap, "e2eMs"))}; the user function took ${ms(m(nosnap, "ufReplayMs"))} from init to the command`,
        ratio: "–",
        target: "≤ 50 ms",
        status: m(nosnap, "e2eMs") - m(nosnap, "warmMs") <= 50 ? "met" : "not met",
      },
    ];
    let pgBody: string;
    if ("notRun" in pgOutcome) {
      checks.push({
        name: "Event-sourced durable commands on PostgreSQL, and vs its batched-insert ceiling",
        measured: "–",
        comparison: "–",
        ratio: "–",
        target: "≥ 0.50× the ceiling",
        status: "not run",
        note: pgOutcome.notRun,
      });
      pgBody = `Not run: ${pgOutcome.notRun}.`;
    } else {
      const [pgProxy, pgCeiling] = pgOutcome.points as [PointResult, PointResult];
      const r = pgProxy.throughput / pgCeiling.throughput;
      checks.push({
        name: `Event-sourced durable commands on PostgreSQL, ${ctx.concurrency} concurrent entities, vs its batched-insert ceiling`,
        measured: `${rate(pgProxy.throughput)} (p50 ${ms(pgProxy.latency.p50Ms)}, p99 ${ms(pgProxy.latency.p99Ms)})`,
        comparison: `ceiling ${rate(pgCeiling.throughput)} events`,
        ratio: ratio(r),
        target: "≥ 0.50×",
        status: r >= 0.5 ? "met" : "not met",
      });
      pgBody = [pgOutcome.note, "", pointsTable(pgOutcome.points)].join("\n");
    }
    const activationRows = (label: string, list: Activation[]) =>
      list.map(
        (a, i) =>
          `| ${label} #${i + 1} | ${a.snapshotSeen ? "yes" : "no"} | ${a.eventsSeen.toLocaleString("en-US")} | ${ms(a.proxySideMs)} | ${ms(a.e2eMs)} | ${ms(a.warmMs)} | ${ms(a.ufReplayMs)} |`,
      );
    const body = [
      "### Throughput (SQLite)",
      "",
      `Each of the ${ctx.concurrency} callers owns one entity. ` +
        (kinds.includes("shopping-cart")
          ? "Headline: the shopping cart example (TypeScript SDK), `com.example.shoppingcart.ShoppingCart/AddItem` of one unit of the same product to the caller's cart (one `ItemAdded` event per command, a snapshot every 20 events; the carts are read back afterwards). Beside it: "
          : "") +
        'the raw-protocol TCK model (`EventSourcedTckModel/Process` with one `emit` of `"x"`; it snapshots every 5 events and replies with its whole state, so its replies grow by one byte per event). ' +
        (nodeGeneratorPoint !== undefined
          ? `The headline also runs driven by a generator on node:http2 (the generator of results before 2026-12-04; its own carts), to show what the generator's CPU takes from the two cores. `
          : "") +
        `The ceiling is better-sqlite3 on its own file with the proxy's schema, WAL, synchronous=FULL, ${ctx.concurrency} INSERTs per BEGIN IMMEDIATE … COMMIT, one transaction at a time, in the load generator's process (its CPU is the generator column; its calls/s are events/s and its latencies are per transaction). All of them alternate in ${ctx.rounds} rounds.`,
      "",
      pointsTable(points),
      ...(verifications.length ? ["", `Read-back after the run: ${verifications.join("; ")}.`] : []),
      ...notes.map((n) => `\nNote: ${n}`),
      ...(profileBody ? ["", profileBody] : []),
      "",
      "### Activation (SQLite)",
      "",
      `${ACTIVATION_ENTITIES} entities per case, each with ${ACTIVATION_EVENTS.toLocaleString("en-US")} one-byte events written into the proxy's file before it started (the \`snap\` ones also with a snapshot at seq ${ACTIVATION_EVENTS.toLocaleString("en-US")}); each gets a cold call (a command that emits nothing) then a warm one, and the cold reply is checked to hold the full replayed state. Proxy-side = (init reached the user function − cold call sent) − (warm command reached the user function − warm call sent). User-function replay = init to the command at the user function (its own decoding of the events). The files were just written, so they are in the page cache.`,
      "",
      "| entity | snapshot | events replayed | proxy-side | end to end (cold call) | warm call | user-function replay |",
      "|---|---|---|---|---|---|---|",
      ...activationRows("no snapshot", nosnap),
      ...activationRows("snapshot", snap),
      ...(activationProfile ? ["", activationProfile] : []),
      "",
      "### PostgreSQL",
      "",
      pgBody,
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points: [...points, ...("points" in pgOutcome ? pgOutcome.points : [])], data: { activation } };
  },
};

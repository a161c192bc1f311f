/**
 * A conformance run, as upstream's `TCK.scala` + `TckProcesses`: start the user function,
 * the interceptor and the proxy, capture the proxy's discovery, run the selected areas in
 * order, and stop everything by process group.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { EntitySpec, ProxyInfo } from "@switchboard/protocol";
import { TckAssertionError } from "./assertion-error.js";
import { AREAS, type Area, type CatalogueCase, loadCatalogue, UPSTREAM_CASE_COUNT } from "./catalogue.js";
import { createGrpcClient, GrpcCallError, type GrpcClient } from "./grpc-client.js";
import { createHttpClient, type HttpClient } from "./http-client.js";
import { createInterceptor, type Interceptor } from "./interceptor.js";
import { knownFailuresFor, parseKnownFailures } from "./known-failures.js";
import { isPortInUse, type ManagedProcess, startProcess, waitForPort } from "./processes.js";
import { createProtocolDriver, type ProtocolDriver } from "./protocol-driver.js";
import { speaksCrdtBefore02 } from "@switchboard/proxy/internal";
import { buildResults, type CaseOutcome, type RunResults } from "./results.js";
import type { TckContext, TckSuite, TckTest } from "./suite.js";
import { actionSuite } from "./suites/action.js";
import { crdtSuite } from "./suites/crdt.js";
import { discoverySuite } from "./suites/discovery.js";
import { eventSourcedSuite } from "./suites/event-sourced.js";
import { eventingSuite } from "./suites/eventing.js";
import { shoppingCartSuite } from "./suites/shopping-cart.js";
import { valueEntitySuite } from "./suites/value-entity.js";

/** Every suite, in run order. */
export const SUITES: readonly TckSuite[] = [discoverySuite, eventSourcedSuite, valueEntitySuite, actionSuite, crdtSuite, eventingSuite, shoppingCartSuite];

/** Options of {@link runTck}. */
export interface TckRunOptions {
  /** Shell command that starts the proxy (gets USER_FUNCTION_HOST, USER_FUNCTION_PORT and HTTP_PORT). */
  readonly proxyCommand: string;
  /** Shell command that starts the user function (gets HOST and PORT). */
  readonly functionCommand: string;
  /** Name of the support, selecting its section of known-failures.txt. */
  readonly support: string;
  /** Areas to run (default: all). */
  readonly areas?: readonly Area[];
  readonly functionPort?: number;
  readonly interceptorPort?: number;
  readonly proxyPort?: number;
  /** known-failures.txt to use (default: the package's). */
  readonly knownFailuresFile?: string;
  /** Directory for the processes' logs (default: a new temporary directory). */
  readonly logDir?: string;
  /** Working directory of both commands. */
  readonly cwd?: string;
  /** Extra environment for the user function. */
  readonly functionEnv?: Record<string, string>;
  /** Where progress lines go (default: stdout). */
  readonly log?: (line: string) => void;
}

const HOST = "127.0.0.1";
/** Upper bound of one test, above the 3 s of each expectation. */
const TEST_TIMEOUT_MS = 60_000;
/** How long a failed test's late traffic may take to arrive before it is dropped. */
const SETTLE_AFTER_FAILURE_MS = 300;

/** Maps catalogue ids to the tests this port implements, and checks every test is catalogued. */
export function portedTests(catalogue: readonly CatalogueCase[], suites: readonly TckSuite[] = SUITES): Map<string, TckTest> {
  const byId = new Map<string, TckTest>();
  const ids = new Set(catalogue.map((c) => c.id));
  for (const suite of suites) {
    for (const test of suite.tests) {
      const id = `${suite.area} ${test.kind}: ${test.name}`;
      if (!ids.has(id)) throw new Error(`test "${id}" is not in catalogue.json`);
      if (byId.has(id)) throw new Error(`test "${id}" is defined twice`);
      byId.set(id, test);
    }
  }
  return byId;
}

/** Names of all services in a serialized FileDescriptorSet. */
function servicesOf(proto: Uint8Array): string[] {
  try {
    const set = fromBinary(FileDescriptorSetSchema, proto);
    return set.file.flatMap((file) => file.service.map((service) => (file.package ? `${file.package}.${service.name}` : service.name)));
  } catch {
    return [];
  }
}

/** The message of an expected kind of error; the stack of anything else (a bug in a test or in the TCK). */
function errorText(error: unknown): string {
  if (error instanceof TckAssertionError || error instanceof GrpcCallError) return error.message;
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}

/** Rejects after `ms` unless `promise` settles first. */
function guard<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TckAssertionError(`${what} did not finish within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the TCK against a proxy and a user function and returns the classified results. */
export async function runTck(options: TckRunOptions): Promise<RunResults> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const startedAt = new Date();
  const functionPort = options.functionPort ?? 8080;
  const interceptorPort = options.interceptorPort ?? 8090;
  const proxyPort = options.proxyPort ?? 9000;
  const areas = options.areas ?? AREAS;
  const catalogue = loadCatalogue();
  const tests = portedTests(catalogue);
  const ported = catalogue.filter((c) => c.upstream && tests.has(c.id)).length;
  const knownText = readFileSync(options.knownFailuresFile ?? new URL("../known-failures.txt", import.meta.url), "utf8");
  const known = knownFailuresFor(parseKnownFailures(knownText, new Set(catalogue.map((c) => c.id))), options.support);
  const selected = catalogue.filter((c) => areas.includes(c.area));
  const logDir = options.logDir ?? mkdtempSync(path.join(os.tmpdir(), "switchboard-tck-"));
  log(`switchboard-tck: ${options.support}, areas ${areas.join(", ")}; ${ported} of ${UPSTREAM_CASE_COUNT} ported; logs in ${logDir}`);

  let userFunction: ManagedProcess | undefined;
  let proxy: ManagedProcess | undefined;
  let interceptor: Interceptor | undefined;
  let client: GrpcClient | undefined;
  let protocol: ProtocolDriver | undefined;
  const outcomes: CaseOutcome[] = [];
  let runError: string | undefined;
  let proxyStarts = 0;

  const startProxy = async (): Promise<void> => {
    proxyStarts += 1;
    proxy = startProcess({
      name: proxyStarts === 1 ? "proxy" : `proxy-${proxyStarts}`,
      command: options.proxyCommand,
      env: { USER_FUNCTION_HOST: HOST, USER_FUNCTION_PORT: String(interceptor?.port ?? interceptorPort), HTTP_PORT: String(proxyPort) },
      logDir,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    // Any HTTP answer on GET / means the front port is up (upstream: 10 s).
    const http = createHttpClient(HOST, proxyPort);
    const until = Date.now() + 10_000;
    for (;;) {
      if (await http.probe(500)) break;
      if (proxy.hasExited) throw new Error(`the proxy exited (${await proxy.exited}) before answering on ${HOST}:${proxyPort}:\n${proxy.tail()}`);
      if (Date.now() > until) throw new Error(`the proxy did not answer GET / on ${HOST}:${proxyPort} within 10 s:\n${proxy.tail()}`);
      await sleep(100);
    }
  };

  try {
    // A stale process on one of the ports would silently take the place of ours.
    for (const [what, port] of [
      ["user function", functionPort],
      ["interceptor", interceptorPort],
      ["proxy", proxyPort],
    ] as const) {
      if (port !== 0 && (await isPortInUse(HOST, port))) throw new Error(`the ${what} port ${HOST}:${port} is already in use by another process`);
    }
    // 1. The user function, then the interceptor (which waits for its discover to answer).
    userFunction = startProcess({
      name: "user-function",
      command: options.functionCommand,
      env: { ...options.functionEnv, HOST, PORT: String(functionPort) },
      logDir,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    try {
      await waitForPort(HOST, functionPort, 60_000, userFunction.exited);
    } catch (error) {
      throw new Error(`user function: ${(error as Error).message}\n${userFunction.tail()}`);
    }
    interceptor = await createInterceptor({ bindPort: interceptorPort, userFunctionPort: functionPort });

    // 2. The proxy, then its single discovery.
    await startProxy();
    let proxyInfo: ProxyInfo;
    let spec: EntitySpec;
    try {
      ({ proxyInfo, spec } = await interceptor.expectDiscovery(10_000));
    } catch (error) {
      throw new Error(`no discovery from the proxy: ${errorText(error)}\n${proxy?.tail() ?? ""}`);
    }
    const serviceNames = spec.entities.map((e) => e.serviceName);
    log(
      `discovered ${serviceNames.length} entities from ${spec.serviceInfo?.supportLibraryName ?? "?"} ${spec.serviceInfo?.supportLibraryVersion ?? ""}; proxy ${proxyInfo.proxyName} ${proxyInfo.proxyVersion}`,
    );

    client = createGrpcClient(HOST, proxyPort);
    // A support from before protocol 0.2 speaks the older CRDT wire: the model tests reach it through the proxy's translation.
    const reported = spec.serviceInfo;
    const crdtBefore02 = speaksCrdtBefore02(reported?.protocolMajorVersion ?? 0, reported?.protocolMinorVersion ?? 0);
    if (crdtBefore02)
      log(
        `the user function reports protocol ${reported?.protocolMajorVersion ?? 0}.${reported?.protocolMinorVersion ?? 0}: CRDT model tests speak the CRDT wire from before 0.2`,
      );
    protocol = createProtocolDriver(HOST, functionPort, undefined, { crdtBefore02 });
    const http: HttpClient = createHttpClient(HOST, proxyPort);
    const activeInterceptor = interceptor;
    const activeClient = client;
    const activeProtocol = protocol;
    const context: TckContext = {
      interceptor: activeInterceptor,
      client: activeClient,
      http,
      proxyHost: HOST,
      protocol: activeProtocol,
      proxyInfo,
      spec,
      serviceNames,
      discoveredServices: servicesOf(spec.proto),
      entity: (name) => spec.entities.find((e) => e.serviceName === name),
      async restartProxy() {
        await proxy?.stop();
        await startProxy();
        await activeInterceptor.expectDiscovery(10_000);
      },
    };

    // 3. The cases, area by area.
    for (const area of areas) {
      log(`\n${area}`);
      for (const entry of selected.filter((c) => c.area === area)) {
        const test = tests.get(entry.id);
        const started = Date.now();
        if (!entry.services.every((s) => serviceNames.includes(s))) {
          outcomes.push({ case: entry, status: "pending", ported: test !== undefined, durationMs: 0 });
          log(`  - ${entry.kind}: ${entry.name} (pending: ${entry.services.filter((s) => !serviceNames.includes(s)).join(", ")} not declared)`);
          continue;
        }
        if (!test) {
          outcomes.push({ case: entry, status: "failed", ported: false, error: "not ported", durationMs: 0 });
          log(`  x ${entry.kind}: ${entry.name} (known failure: not ported)`);
          continue;
        }
        try {
          await guard(test.run(context), TEST_TIMEOUT_MS, entry.id);
          await activeInterceptor.verifyNoMoreInteractions();
          outcomes.push({ case: entry, status: "passed", ported: true, durationMs: Date.now() - started });
          const reason = known.get(entry.id);
          log(`  ✓ ${entry.kind}: ${entry.name} (${Date.now() - started} ms)${reason ? `  UNEXPECTED PASS (listed: ${reason})` : ""}`);
        } catch (error) {
          const message = errorText(error);
          outcomes.push({ case: entry, status: "failed", ported: true, error: message, durationMs: Date.now() - started });
          const reason = known.get(entry.id);
          log(`  x ${entry.kind}: ${entry.name} (${Date.now() - started} ms)${reason ? ` (known failure: ${reason})` : "  UNEXPECTED FAILURE"}`);
          log(`      ${message.split("\n").join("\n      ")}`);
          // Isolate the next test: drop this one's calls and any late traffic it caused.
          activeClient.cancelAll();
          activeProtocol.cancelAll();
          await sleep(SETTLE_AFTER_FAILURE_MS);
          activeInterceptor.drain();
        }
        if (proxy?.hasExited) throw new Error(`the proxy exited (${await proxy.exited}) during ${entry.id}:\n${proxy.tail()}`);
      }
    }
  } catch (error) {
    runError = (error instanceof Error ? error.message : String(error)).split("\n").slice(0, 40).join("\n");
    log(`\n${runError}`);
  } finally {
    client?.close();
    protocol?.close();
    await proxy?.stop();
    await interceptor?.close();
    await userFunction?.stop();
  }

  // Cases that never ran because the run broke off count as failures of this run.
  const done = new Set(outcomes.map((o) => o.case.id));
  for (const entry of selected) {
    if (!done.has(entry.id))
      outcomes.push({ case: entry, status: "failed", ported: tests.has(entry.id), error: `not run: ${runError ?? "run aborted"}`, durationMs: 0 });
  }
  return buildResults({
    support: options.support,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    areas,
    outcomes: selected.map((c) => outcomes.find((o) => o.case.id === c.id) as CaseOutcome),
    known,
    ported,
    ...(runError !== undefined ? { runError } : {}),
  });
}

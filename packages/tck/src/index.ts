/**
 * @switchboard/tck: a TypeScript port of the Cloudstate TCK. It plays the TCK's three roles
 * (an interceptor between proxy and user function, a client of the proxy, a direct driver
 * of the user function), names all 186 upstream cases, and runs them against any Cloudstate
 * proxy (`runTck`, or the `switchboard-tck` command).
 */
export { check, checkEqual, TckAssertionError } from "./assertion-error.js";
export { AREAS, type Area, type CaseKind, type CatalogueCase, caseId, loadCatalogue, parseCatalogue, UPSTREAM_CASE_COUNT } from "./catalogue.js";
export { expectMessage } from "./compare.js";
export * from "./connections.js";
export { describeMessage } from "./describe.js";
export { describeAreaClaims, type Features, loadFeatures, parseFeatures } from "./features.js";
export * from "./grpc-client.js";
export { createHttpClient, type HttpClient, type HttpResult } from "./http-client.js";
export { createInterceptor, type Interceptor, type InterceptorOptions } from "./interceptor.js";
export { type KnownFailures, knownFailuresFor, parseKnownFailures } from "./known-failures.js";
export { createProbe, DEFAULT_EXPECT_TIMEOUT_MS, type Probe } from "./probe.js";
export { type ManagedProcess, type StartProcessOptions, startProcess, waitForPort } from "./processes.js";
export { createProtocolDriver, type EntityStreamDriver, type ProtocolDriver } from "./protocol-driver.js";
export * from "./results.js";
export { portedTests, runTck, SUITES, type TckRunOptions } from "./runner.js";
export type { TckContext, TckSuite, TckTest } from "./suite.js";

/**
 * How test suites are written: each area exports a {@link TckSuite}, a list of tests named
 * exactly as in the catalogue, each an async function of the shared {@link TckContext}.
 */
import type { Entity, EntitySpec, ProxyInfo } from "@switchboard/protocol";
import type { Area, CaseKind } from "./catalogue.js";
import type { GrpcClient } from "./grpc-client.js";
import type { HttpClient } from "./http-client.js";
import type { Interceptor } from "./interceptor.js";
import type { ProtocolDriver } from "./protocol-driver.js";

/** Everything a test can use. */
export interface TckContext {
  /** The interceptor between the proxy and the user function. */
  readonly interceptor: Interceptor;
  /** gRPC client of the proxy's front port (model services, reflection). */
  readonly client: GrpcClient;
  /** HTTP/JSON client of the proxy's front port. */
  readonly http: HttpClient;
  /** The host the clients use for the proxy (sent as reflection `host`). */
  readonly proxyHost: string;
  /** Direct driver of the user function, for model tests. */
  readonly protocol: ProtocolDriver;
  /** What the proxy sent in its discovery. */
  readonly proxyInfo: ProxyInfo;
  /** What the user function answered. */
  readonly spec: EntitySpec;
  /** Full names of the services in `spec.entities`. */
  readonly serviceNames: readonly string[];
  /** Full names of every service in the spec's FileDescriptorSet. */
  readonly discoveredServices: readonly string[];
  /** The discovered entity of `serviceName`. */
  entity(serviceName: string): Entity | undefined;
  /**
   * Stops the proxy and starts it again with the same command, then expects its new
   * discovery. Used by the shopping-cart smoke area.
   */
  restartProxy(): Promise<void>;
}

/** One test: a catalogue name and its body. */
export interface TckTest {
  readonly kind: CaseKind;
  readonly name: string;
  run(context: TckContext): Promise<void>;
}

/** The tests of one area. */
export interface TckSuite {
  readonly area: Area;
  readonly tests: readonly TckTest[];
}

/** A model test (drives the user function directly). */
export function modelTest(name: string, run: (context: TckContext) => Promise<void>): TckTest {
  return { kind: "model", name, run };
}

/** A proxy test (goes through the proxy and the interceptor). */
export function proxyTest(name: string, run: (context: TckContext) => Promise<void>): TckTest {
  return { kind: "proxy", name, run };
}

/** A smoke test of this port (not in the upstream catalogue). */
export function smokeTest(name: string, run: (context: TckContext) => Promise<void>): TckTest {
  return { kind: "smoke", name, run };
}

/** A counter of entity ids, one per area as upstream (`entity-1`, `GCounter-2`, ...). */
export function entityIds(prefix: string): { next(typePrefix?: string): string } {
  let n = 0;
  return {
    next(typePrefix = prefix) {
      n += 1;
      return `${typePrefix}-${n}`;
    },
  };
}

import type { IncomingHttpHeaders } from "node:http";

/** A plain-text HTTP answer. */
export interface PlainResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Readiness as the probes see it. */
export interface Readiness {
  /** True once discovery succeeded (and the model is in place). */
  ready(): boolean;
}

/**
 * Answers the health endpoints and the Knative network probe, or undefined when the
 * request is none of them: `/alive` is always 200, `/ready` 503 until discovery
 * succeeded, `K-Network-Probe: queue` gets 200 `queue` and any other value 400.
 */
export function answerProbe(method: string, path: string, headers: IncomingHttpHeaders, readiness: Readiness): PlainResponse | undefined {
  const probe = headers["k-network-probe"];
  if (probe !== undefined) {
    return probe === "queue" ? { status: 200, body: "queue" } : { status: 400, body: `unexpected K-Network-Probe value "${String(probe)}"` };
  }
  if (method !== "GET" && method !== "HEAD") return undefined;
  const pathname = path.split("?")[0];
  if (pathname === "/alive") return { status: 200, body: "alive" };
  if (pathname === "/ready") {
    return readiness.ready() ? { status: 200, body: "ready" } : { status: 503, body: "not ready: the user function has not been discovered yet" };
  }
  return undefined;
}

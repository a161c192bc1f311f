/**
 * Load through every node of a cluster, with the bookkeeping the chaos checks need:
 * what was acknowledged (event-sourced events in order, value-entity counters), which
 * calls failed and when they started, and which calls never reached a node (a load
 * balancer would have sent those elsewhere, so they are tried on the next node).
 */
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { eventsourced, valueentity } from "@switchboard/protocol/tck";
import { createTestClient, type TestClient } from "../support/grpc-client.js";
import type { ClusterNodeProcess } from "./cluster-harness.js";

export const ES_PATH = "/cloudstate.tck.model.EventSourcedTckModel/Process";
export const VE_PATH = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";
export const ES_PERSISTENCE_ID = "event-sourced-tck-model";
export const VE_PERSISTENCE_ID = "value-entity-tck-model";

/** A call that failed after it reached a node. */
export interface FailedCall {
  readonly node: string;
  readonly path: string;
  readonly entity: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly code: grpc.status;
  readonly details: string;
}

/** A failure that means the call never reached the node (connection refused): safe to send elsewhere. */
function notReached(code: grpc.status, details: string): boolean {
  return code === grpc.status.UNAVAILABLE && /ECONNREFUSED|No connection established|Failed to connect|connect ECONN/i.test(details);
}

let runs = 0;

/** The load: `workers` loops, each writing to its own entities, round-robin over the targets. */
export class Load {
  /** Tells this load's event values from those of earlier loads on the same entities. */
  private readonly run = ++runs;
  readonly ackedEvents = new Map<string, string[]>();
  readonly ackedValues = new Map<string, number>();
  readonly failures: FailedCall[] = [];
  /** Calls that reached no node and were sent to another one. */
  rerouted = 0;
  ok = 0;
  private stopping = false;
  private readonly clients = new Map<number, TestClient>();
  private readonly loops: Promise<void>[] = [];
  /** Successful calls per entity kind: time of the last success per entity. */
  readonly lastOk = new Map<string, number>();

  /** `targets()` names the nodes a load balancer would send to right now. */
  constructor(
    private readonly targets: () => readonly ClusterNodeProcess[],
    readonly workers = 10,
    readonly entitiesPerWorker = 4,
  ) {}

  start(): void {
    for (let w = 0; w < this.workers; w++) this.loops.push(this.loop(w));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    for (const client of this.clients.values()) client.close();
  }

  /** Acknowledged writes so far. */
  get acknowledged(): number {
    return this.ok;
  }

  private client(port: number): TestClient {
    let client = this.clients.get(port);
    if (client === undefined) {
      client = createTestClient(port);
      this.clients.set(port, client);
    }
    return client;
  }

  private async loop(w: number): Promise<void> {
    let i = 0;
    while (!this.stopping) {
      i++;
      const slot = i % this.entitiesPerWorker;
      const es = `es-${w}-${slot}`;
      const ve = `ve-${w}-${slot}`;
      const value = `|${this.run}.${w}.${i}|`;
      await this.call(w + i, ES_PATH, es, async (client) => {
        const r = await client.unary(
          ES_PATH,
          eventsourced.RequestSchema,
          eventsourced.ResponseSchema,
          { id: es, actions: [{ action: { case: "emit", value: { value } } }] },
          { deadlineMs: 20_000 },
        );
        if (r.code === grpc.status.OK) this.ackedEvents.set(es, [...(this.ackedEvents.get(es) ?? []), value]);
        return r;
      });
      if (this.stopping) break;
      await this.call(w + i + 1, VE_PATH, ve, async (client) => {
        const r = await client.unary(
          VE_PATH,
          valueentity.RequestSchema,
          valueentity.ResponseSchema,
          { id: ve, actions: [{ action: { case: "update", value: { value: String(i) } } }] },
          { deadlineMs: 20_000 },
        );
        if (r.code === grpc.status.OK) this.ackedValues.set(ve, i);
        return r;
      });
    }
  }

  /** Sends one call to the `pick`-th target; a call that reaches no node goes to the next target. */
  private async call(pick: number, path: string, entity: string, send: (client: TestClient) => Promise<{ code: grpc.status; details: string }>): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const targets = this.targets();
      if (targets.length === 0) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const node = targets[(pick + attempt) % targets.length] as ClusterNodeProcess;
      const startedAt = Date.now();
      const r = await send(this.client(node.port));
      if (r.code === grpc.status.OK) {
        this.ok++;
        this.lastOk.set(entity, Date.now());
        return;
      }
      if (notReached(r.code, r.details)) {
        this.rerouted++;
        continue;
      }
      this.failures.push({ node: node.nodeId, path, entity, startedAt, endedAt: Date.now(), code: r.code, details: r.details });
      return;
    }
  }
}

/** Decodes a stored event of the event-sourced TCK model: its value. */
export function eventValue(payload: Uint8Array): string {
  return fromBinary(eventsourced.PersistedSchema, payload).value;
}

/** Decodes a stored value-entity state of the TCK model: its value. */
export function stateValue(payload: Uint8Array): string {
  return fromBinary(valueentity.PersistedSchema, payload).value;
}

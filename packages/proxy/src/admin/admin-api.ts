import { toJson } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { EntityServiceModel, ServiceModel } from "../descriptors/service-model.js";
import { initDelta, singleNodeReplica } from "../entities/crdt/state.js";
import { decodeCrdtState } from "../entities/crdt/storage-format.js";
import type { MethodStats } from "../observability/call-stats.js";
import { type EntityTable, JOURNAL_ID_SEPARATOR, type StoreInspector } from "../store/inspector.js";
import type { Store } from "../store/types.js";
import { type DecodedAny, decodeAny } from "./decode-any.js";
import { nearestNames } from "./nearest-names.js";
import type { TopicAdmin } from "./topic-admin.js";

/** What the proxy tells the console about itself. */
export interface AdminStatus {
  readonly version: string;
  /** Whether discovery has succeeded. */
  readonly ready: boolean;
  readonly userFunction: { readonly target: string; readonly connected: boolean };
  readonly store: string;
  readonly startedAt: number;
}

/** What the admin API reads. */
export interface AdminApiDeps {
  model(): ServiceModel | undefined;
  readonly store: Pick<Store, "getValue" | "loadSnapshot" | "highestSeq" | "getCrdt">;
  /** Entity listing and journals with timestamps (absent: listing answers 501). */
  readonly inspector: StoreInspector | undefined;
  /** Passivates one entity; resolves to whether it was active. */
  passivate(service: EntityServiceModel, entityId: string): Promise<boolean>;
  status(): AdminStatus;
  stats(): MethodStats[];
  /** The consumer-group endpoints under `/v1/topics/` (absent: the proxy has no broker). */
  readonly topics?: TopicAdmin;
}

/** An admin API answer: an HTTP status and a JSON body. */
export interface AdminResponse {
  readonly status: number;
  readonly body: JsonValue;
}

/** The JSON admin API, free of HTTP: a method, a path and a query in, a status and JSON out. */
export interface AdminApi {
  /** Answers a request under `/v1/`, or undefined when the path is not an API path; `body` is the request body of a POST. */
  handle(method: string, pathname: string, query: URLSearchParams, body?: string): Promise<AdminResponse | undefined>;
}

const TABLE_OF: Readonly<Record<string, EntityTable>> = { "value-entity": "value", "event-sourced": "journal", crdt: "crdt" };
const MAX_PAGE = 1000;

const fail = (status: number, error: string, extra: Record<string, JsonValue> = {}): AdminResponse => ({ status, body: { error, ...extra } });

function decoded(value: DecodedAny): JsonValue {
  return "json" in value ? { type: value.type, value: value.json } : { type: value.type, base64: value.base64, error: value.error };
}

function parseCount(raw: string | null, name: string, fallback: number, min: number, max: number): number | string {
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) return `${name} must be a whole number from ${min} to ${max}, got "${raw}"`;
  return Number(raw);
}

/**
 * Creates the admin API: services and methods from the discovered descriptors, entity
 * ids per service, an entity's state (and for event-sourced entities its snapshot,
 * sequence number and journal) decoded to proto3 JSON, passivation, and the status and
 * per-method statistics the console shows. Unknown names answer 404 with the nearest
 * known names; bytes that do not decode come back as base64 with the reason.
 */
export function createAdminApi(deps: AdminApiDeps): AdminApi {
  function servicesJson(model: ServiceModel): JsonValue {
    return [...model.services.values()].map((service) => ({
      name: service.name,
      kind: service.kind,
      entityType: service.entityType,
      persistenceId: service.kind === "action" ? null : service.persistenceId,
      methods: [...service.methods.values()].map((method) => ({
        name: method.name,
        path: method.path,
        kind: method.kind,
        input: method.input.typeName,
        output: method.output.typeName,
        httpRoutes: model.httpRules
          .filter((rule) => rule.method === method)
          .map((rule) => ({ method: rule.httpMethod, path: rule.template.text, origin: rule.origin })),
      })),
    }));
  }

  function findService(model: ServiceModel, name: string): EntityServiceModel | AdminResponse {
    const service = model.services.get(name);
    if (service === undefined) {
      const nearest = nearestNames(name, model.services.keys());
      return fail(404, `no service "${name}"${nearest.length > 0 ? `; did you mean ${nearest.join(", ")}?` : ""}`, { nearest });
    }
    if (service.kind === "action") {
      const stateful = [...model.services.values()].filter((s) => s.kind !== "action").map((s) => s.name);
      return fail(404, `${name} is an Action: it keeps no entities`, { nearest: nearestNames(name, stateful) });
    }
    return service;
  }

  async function listEntities(service: EntityServiceModel, query: URLSearchParams): Promise<AdminResponse> {
    if (deps.inspector === undefined) return fail(501, "this store cannot list entities");
    const limit = parseCount(query.get("limit"), "limit", 100, 1, MAX_PAGE);
    if (typeof limit === "string") return fail(400, limit);
    const prefix = query.get("prefix") ?? "";
    const after = query.get("after") ?? undefined;
    const ids = await deps.inspector.listEntityIds(TABLE_OF[service.kind]!, service.persistenceId, { prefix, after, limit: limit + 1 });
    const page = ids.slice(0, limit);
    return {
      status: 200,
      body: { service: service.name, kind: service.kind, prefix, entities: page, next: ids.length > limit ? (page.at(-1) ?? null) : null },
    };
  }

  async function entity(model: ServiceModel, service: EntityServiceModel, id: string): Promise<AdminResponse> {
    const notFound = async () => {
      let nearest: string[] = [];
      if (deps.inspector !== undefined) {
        const nearby = await deps.inspector.listEntityIds(TABLE_OF[service.kind]!, service.persistenceId, { prefix: id.slice(0, 1), limit: 200 });
        nearest = nearestNames(id, nearby);
      }
      return fail(404, `no stored state for entity "${id}" of ${service.name}${nearest.length > 0 ? `; nearest ids: ${nearest.join(", ")}` : ""}`, { nearest });
    };
    const base = { service: service.name, entityId: id, kind: service.kind };
    switch (service.kind) {
      case "value-entity": {
        const value = await deps.store.getValue(service.persistenceId, id);
        if (value === undefined) return notFound();
        return { status: 200, body: { ...base, state: decoded(decodeAny(model.registry, value)) } };
      }
      case "event-sourced": {
        const journalId = `${service.persistenceId}${JOURNAL_ID_SEPARATOR}${id}`;
        const [sequenceNumber, snapshot] = await Promise.all([deps.store.highestSeq(journalId), deps.store.loadSnapshot(journalId)]);
        if (sequenceNumber === 0 && snapshot === undefined) return notFound();
        return {
          status: 200,
          body: {
            ...base,
            sequenceNumber,
            snapshot: snapshot === undefined ? null : { seq: snapshot.seq, state: decoded(decodeAny(model.registry, snapshot.payload)) },
          },
        };
      }
      case "crdt": {
        const bytes = await deps.store.getCrdt(service.persistenceId, id);
        if (bytes === undefined) return notFound();
        let state: JsonValue;
        try {
          const crdt = decodeCrdtState(bytes, `${service.name} entity ${id}`);
          state = { type: crdt.kind, value: toJson(CrdtDeltaSchema, initDelta(crdt, singleNodeReplica("admin")), { registry: model.registry }) };
        } catch (error) {
          state = { type: "crdt", base64: Buffer.from(bytes).toString("base64"), error: (error as Error).message };
        }
        return { status: 200, body: { ...base, state } };
      }
      default:
        return fail(404, `${service.name} keeps no entities`);
    }
  }

  async function events(model: ServiceModel, service: EntityServiceModel, id: string, query: URLSearchParams): Promise<AdminResponse> {
    if (service.kind !== "event-sourced") return fail(404, `${service.name} is a ${service.kind} service: only event-sourced entities have events`);
    if (deps.inspector === undefined) return fail(501, "this store cannot read journals with timestamps");
    const from = parseCount(query.get("from"), "from", 1, 1, Number.MAX_SAFE_INTEGER);
    if (typeof from === "string") return fail(400, from);
    const limit = parseCount(query.get("limit"), "limit", 100, 1, MAX_PAGE);
    if (typeof limit === "string") return fail(400, limit);
    const journalId = `${service.persistenceId}${JOURNAL_ID_SEPARATOR}${id}`;
    const rows = await deps.inspector.readJournal(journalId, from, limit + 1);
    if (rows.length === 0 && from === 1) {
      const missing = await entity(model, service, id);
      if (missing.status !== 200) return missing;
    }
    const page = rows.slice(0, limit);
    return {
      status: 200,
      body: {
        service: service.name,
        entityId: id,
        events: page.map((event) => ({
          seq: event.seq,
          writtenAt: event.writtenAt === undefined ? null : new Date(event.writtenAt).toISOString(),
          event: decoded(decodeAny(model.registry, event.payload)),
        })),
        next: rows.length > limit ? (page.at(-1)?.seq ?? 0) + 1 : null,
      },
    };
  }

  return {
    async handle(method, pathname, query, body = "") {
      if (!pathname.startsWith("/v1/")) return undefined;
      const parts = pathname.slice(4).split("/");
      let segments: string[];
      try {
        segments = parts.map((p) => decodeURIComponent(p));
      } catch {
        return fail(400, `the path ${pathname} is not valid percent-encoding`);
      }
      if (segments[0] === "topics") {
        if (deps.topics === undefined) return fail(501, "this proxy's store keeps no topics");
        const answer = await deps.topics.handle(method, segments, body, deps.model());
        return (
          answer ?? fail(404, `no admin endpoint ${pathname}; try /v1/topics/{topic}/groups/{group} (GET) or /v1/topics/{topic}/groups/{group}/offset (POST)`)
        );
      }
      const wantsPost = segments[0] === "entities" && segments.length === 4 && segments[3] === "passivate";
      if (method !== (wantsPost ? "POST" : "GET")) return fail(405, `${pathname} takes ${wantsPost ? "POST" : "GET"}, not ${method}`);
      if (segments[0] === "status" && segments.length === 1) return { status: 200, body: { ...deps.status() } };
      if (segments[0] === "stats" && segments.length === 1) return { status: 200, body: { methods: deps.stats() as unknown as JsonValue } };
      const model = deps.model();
      if (segments[0] === "services" && segments.length === 1) {
        return model === undefined
          ? fail(503, "the user function's services are not discovered yet")
          : { status: 200, body: { services: servicesJson(model) } };
      }
      if (segments[0] !== "entities" || segments.length < 2 || segments.length > 4 || segments[1] === "") {
        return fail(
          404,
          `no admin endpoint ${pathname}; try /v1/services, /v1/entities/{service}, /v1/entities/{service}/{id}, /v1/entities/{service}/{id}/events`,
        );
      }
      if (model === undefined) return fail(503, "the user function's services are not discovered yet");
      const service = findService(model, segments[1]!);
      if (!("kind" in service)) return service;
      if (segments.length === 2) return listEntities(service, query);
      const id = segments[2]!;
      if (segments.length === 3) return entity(model, service, id);
      if (segments[3] === "events") return events(model, service, id, query);
      if (segments[3] === "passivate") {
        const wasActive = await deps.passivate(service, id);
        return { status: 200, body: { service: service.name, entityId: id, passivated: wasActive } };
      }
      return fail(404, `no admin endpoint ${pathname}; an entity has /events and /passivate`);
    },
  };
}

import { create, fromBinary, type JsonValue, type Registry, toJson } from "@bufbuild/protobuf";
import { type MetadataEntry, MetadataEntrySchema } from "@switchboard/protocol";
import type { AnyValue, TopicMessage, TopicRecord } from "../store/types.js";

/** The type-URL prefix of protobuf messages in an `Any`. */
export const TYPE_URL_PREFIX = "type.googleapis.com/";

/**
 * The CloudEvents `type` of a payload: the full protobuf message name for a
 * `type.googleapis.com/` type URL, else the type URL unchanged (JSON and primitive
 * payloads of the Cloudstate language supports).
 */
export function cloudEventType(typeUrl: string): string {
  return typeUrl.startsWith(TYPE_URL_PREFIX) ? typeUrl.slice(TYPE_URL_PREFIX.length) : typeUrl;
}

/** The type URL of a CloudEvents `type`: the reverse of {@link cloudEventType}. */
export function typeUrlOf(type: string): string {
  return type.includes("/") ? type : `${TYPE_URL_PREFIX}${type}`;
}

/** The attributes CloudEvents defines for every event, in the order they are written. */
const CONTEXT_ATTRIBUTES = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"] as const;

/**
 * The topic message for a method's reply (`(cloudstate.eventing).out.topic`): a fresh
 * `id`, the method as `source`, the payload's message type as `type`, the entity id as
 * `subject` when the method belongs to an entity, the time, and the reply's string
 * metadata as extension attributes (a `ce-` prefix dropped, names lowercased; names
 * that are not CloudEvents attribute names are left out).
 */
export function replyMessage(
  payload: AnyValue,
  source: string,
  subject: string | undefined,
  metadata: readonly MetadataEntry[],
  now = new Date(),
): TopicMessage {
  const attributes: Record<string, string> = {};
  for (const entry of metadata) {
    if (entry.value.case !== "stringValue") continue;
    const name = entry.key.toLowerCase().replace(/^ce-/, "");
    if (/^[a-z0-9]{1,20}$/.test(name) && !CONTEXT_ATTRIBUTES.includes(name as (typeof CONTEXT_ATTRIBUTES)[number])) attributes[name] = entry.value.value;
  }
  Object.assign(attributes, {
    specversion: "1.0",
    id: crypto.randomUUID(),
    source,
    type: cloudEventType(payload.typeUrl),
    ...(subject === undefined ? {} : { subject }),
    time: now.toISOString(),
  });
  return { payload, attributes };
}

/** One Cloudstate metadata entry with a string value. */
export function metadataEntry(key: string, value: string): MetadataEntry {
  return create(MetadataEntrySchema, { key, value: { case: "stringValue", value } });
}

/**
 * The Cloudstate metadata a topic subscriber receives with a message: the CloudEvents
 * attributes as `ce-*` entries in the order event-log events use, `Content-Type`
 * saying the payload is an `Any`, then `ce-subject`, `ce-time` and the extension
 * attributes as `ce-<name>`.
 */
export function topicMetadata(record: TopicRecord, topic: string): MetadataEntry[] {
  const a = record.attributes;
  const entries = [
    metadataEntry("ce-id", a.id ?? String(record.offset)),
    metadataEntry("ce-source", a.source ?? topic),
    metadataEntry("ce-specversion", a.specversion ?? "1.0"),
    metadataEntry("ce-type", a.type ?? cloudEventType(record.payload.typeUrl)),
    metadataEntry("Content-Type", "application/vnd.cloudstate.protobuf.any"),
  ];
  if (a.subject !== undefined) entries.push(metadataEntry("ce-subject", a.subject));
  if (a.time !== undefined) entries.push(metadataEntry("ce-time", a.time));
  for (const [name, value] of Object.entries(a)) {
    if (!CONTEXT_ATTRIBUTES.includes(name as (typeof CONTEXT_ATTRIBUTES)[number])) entries.push(metadataEntry(`ce-${name}`, value));
  }
  return entries;
}

/**
 * A stored message as one CloudEvent in the structured JSON format: the attributes, then
 * `data` as proto3 JSON when `registry` knows the payload's type and the bytes decode,
 * else `data_base64` with the payload bytes.
 */
export function structuredCloudEvent(record: TopicRecord, registry: Registry | undefined): Record<string, JsonValue> {
  const a = record.attributes;
  const event: Record<string, JsonValue> = {
    specversion: a.specversion ?? "1.0",
    id: a.id ?? String(record.offset),
    source: a.source ?? "",
    type: a.type ?? cloudEventType(record.payload.typeUrl),
  };
  for (const name of CONTEXT_ATTRIBUTES) {
    const value = a[name];
    if (value !== undefined && !(name in event) && name !== "datacontenttype") event[name] = value;
  }
  for (const [name, value] of Object.entries(a)) if (!(name in event) && name !== "datacontenttype") event[name] = value;
  const data = protoJson(record.payload, registry);
  if (data !== undefined) {
    event.datacontenttype = "application/json";
    event.data = data;
  } else {
    event.datacontenttype = "application/protobuf";
    event.data_base64 = Buffer.from(record.payload.value).toString("base64");
  }
  return event;
}

function protoJson(payload: AnyValue, registry: Registry | undefined): JsonValue | undefined {
  if (registry === undefined || !payload.typeUrl.startsWith(TYPE_URL_PREFIX)) return undefined;
  const schema = registry.getMessage(payload.typeUrl.slice(TYPE_URL_PREFIX.length));
  if (schema === undefined) return undefined;
  try {
    return toJson(schema, fromBinary(schema, payload.value), { registry });
  } catch {
    return undefined;
  }
}

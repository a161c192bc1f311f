/**
 * @switchboard/protocol: the Cloudstate protocol 0.2 as protobuf-es code, generated from
 * `protocols/` by `npm run generate`. No logic lives here; the wire primitives that the proxy's
 * and the SDK's hand-written codecs share are in `@switchboard/protocol/wire`.
 */
import { file_cloudstate_action } from "./gen/cloudstate/action_pb.js";
import { file_cloudstate_crdt } from "./gen/cloudstate/crdt_pb.js";
import { file_cloudstate_entity } from "./gen/cloudstate/entity_pb.js";
import { file_cloudstate_entity_key } from "./gen/cloudstate/entity_key_pb.js";
import { file_cloudstate_event_sourced } from "./gen/cloudstate/event_sourced_pb.js";
import { file_cloudstate_eventing } from "./gen/cloudstate/eventing_pb.js";
import { file_cloudstate_legacy_entity_key } from "./gen/cloudstate/legacy_entity_key_pb.js";
import { file_cloudstate_value_entity } from "./gen/cloudstate/value_entity_pb.js";
import { file_google_api_annotations } from "./gen/google/api/annotations_pb.js";
import { file_google_api_http } from "./gen/google/api/http_pb.js";
import { file_google_api_httpbody } from "./gen/google/api/httpbody_pb.js";
import { file_switchboard_eventing } from "./gen/switchboard/eventing_pb.js";

export * from "./gen/cloudstate/action_pb.js";
export * from "./gen/cloudstate/crdt_pb.js";
export * from "./gen/cloudstate/entity_key_pb.js";
export * from "./gen/cloudstate/entity_pb.js";
export * from "./gen/cloudstate/event_sourced_pb.js";
export * from "./gen/cloudstate/eventing_pb.js";
export * from "./gen/cloudstate/legacy_entity_key_pb.js";
export * from "./gen/cloudstate/value_entity_pb.js";
export * from "./gen/google/api/annotations_pb.js";
export * from "./gen/google/api/http_pb.js";
export * from "./gen/google/api/httpbody_pb.js";
/** Switchboard's own eventing option (`switchboard.eventing`, value-entity changes as a source): not part of protocol 0.2. */
export * as switchboardEventing from "./gen/switchboard/eventing_pb.js";

/** Protocol major version this package describes. */
export const PROTOCOL_MAJOR_VERSION = 0;
/** Protocol minor version this package describes. */
export const PROTOCOL_MINOR_VERSION = 2;

/**
 * The protocol and frontend files, for filling imports a user function's descriptor set
 * leaves out and for building descriptor sets in language supports.
 */
export const BUNDLED_FILES = [
  file_cloudstate_entity,
  file_cloudstate_action,
  file_cloudstate_value_entity,
  file_cloudstate_event_sourced,
  file_cloudstate_crdt,
  file_cloudstate_entity_key,
  file_cloudstate_legacy_entity_key,
  file_cloudstate_eventing,
  file_google_api_annotations,
  file_google_api_http,
  file_google_api_httpbody,
  file_switchboard_eventing,
] as const;

/**
 * Readable renderings of protocol messages for failure messages: proto3 JSON with a
 * registry that knows the Cloudstate protocol, the TCK model types and the well-known
 * types, so `Any` payloads show their contents.
 */
import { createRegistry, type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import { file_google_protobuf_empty, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt";
import { BUNDLED_FILES } from "@switchboard/protocol";
import { shoppingcart } from "@switchboard/protocol/example";
import { action, crdt, eventlogeventing, eventsourced, valueentity } from "@switchboard/protocol/tck";

const registry = createRegistry(
  ...BUNDLED_FILES,
  file_google_protobuf_empty,
  file_google_protobuf_wrappers,
  action.file_cloudstate_tck_model_action,
  crdt.file_cloudstate_tck_model_crdt,
  eventlogeventing.file_cloudstate_tck_model_eventlogeventing,
  eventsourced.file_cloudstate_tck_model_eventsourced,
  valueentity.file_cloudstate_tck_model_valueentity,
  shoppingcart.file_shoppingcart_shoppingcart,
);

/** Renders `message` as compact proto3 JSON; falls back to a plain dump if a payload cannot be rendered. */
export function describeMessage<D extends DescMessage>(schema: D, message: MessageShape<D>): string {
  try {
    return toJsonString(schema, message, { registry });
  } catch {
    return JSON.stringify(message, (_key, value: unknown) =>
      typeof value === "bigint" ? value.toString() : value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value,
    );
  }
}

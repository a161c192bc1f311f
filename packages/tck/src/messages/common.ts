/**
 * Builders of the messages shared by every entity protocol (`cloudstate` package), as the
 * upstream testkit's `EntityMessages`: payloads packed in `Any`, client actions and side
 * effects.
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type Any, AnySchema, anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { type ClientAction, ClientActionSchema, type SideEffect, SideEffectSchema } from "@switchboard/protocol";

/** Packs a message as `Any` with `type_url = type.googleapis.com/<full name>`. */
export function pack<D extends DescMessage>(schema: D, init?: MessageInitShape<D>): Any {
  return anyPack(schema, create(schema, init));
}

/** A string primitive as the Cloudstate serializer writes it: `p.cloudstate.io/string`, the value in field 1. */
export function primitiveString(value: string): Any {
  return create(AnySchema, { typeUrl: "p.cloudstate.io/string", value: toBinary(StringValueSchema, create(StringValueSchema, { value })) });
}

/** Reads a `p.cloudstate.io/string` value back (empty for any other type), used to sort CRDT deltas. */
export function readPrimitiveString(any: Any | undefined): string {
  if (any?.typeUrl !== "p.cloudstate.io/string") return "";
  const reader = new BinaryReader(any.value);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) return reader.string();
    reader.skip(wireType);
  }
  return "";
}

/** A `ClientAction` replying with `payload`. */
export function clientActionReply(payload: Any | undefined): ClientAction {
  return create(ClientActionSchema, { action: { case: "reply", value: payload === undefined ? {} : { payload } } });
}

/** A `ClientAction` forwarding to `service`/`command`. */
export function clientActionForward(service: string, command: string, payload: Any): ClientAction {
  return create(ClientActionSchema, { action: { case: "forward", value: { serviceName: service, commandName: command, payload } } });
}

/** A `ClientAction` failing command `id`. */
export function clientActionFailure(id: number | bigint, description: string, restart = false): ClientAction {
  return create(ClientActionSchema, { action: { case: "failure", value: { commandId: BigInt(id), description, restart } } });
}

/** A `SideEffect` calling `service`/`command`. */
export function sideEffect(service: string, command: string, payload: Any, synchronous = false): SideEffect {
  return create(SideEffectSchema, { serviceName: service, commandName: command, payload, synchronous });
}

import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import {
  type Command,
  ValueEntity,
  ValueEntityInitSchema,
  ValueEntityInitStateSchema,
  type ValueEntityStreamIn,
  type ValueEntityStreamInSchema,
  ValueEntityStreamInSchema as StreamIn,
  type ValueEntityStreamOut,
  type ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import type { Interpreted, SessionCodec, SessionProtocol } from "../session/entity-session.js";
import type { ValueStore, WriterToken } from "../../store/types.js";
import type { RecordedChanges, RuntimeEnvironment } from "../shared/types.js";

/**
 * The value-entity protocol (cloudstate.valueentity.ValueEntity/handle): `init` always
 * carries `state` (with no value when nothing is stored); a reply's `update`/`delete`
 * is written to the store before its caller is answered. `Failure.restart` is ignored.
 */
export function valueEntityProtocol(
  context: RuntimeEnvironment,
  store: ValueStore,
): SessionProtocol<typeof ValueEntityStreamInSchema, typeof ValueEntityStreamOutSchema> {
  const { service, recordedChanges } = context;
  return {
    method: ValueEntity.method.handle,
    label: "Value entity",
    scheduling: "serial",
    activate: (entityId, writer) => new ValueCodec(store, service, entityId, writer, recordedChanges),
  };
}

/** One activation of a value entity: an object of its own (it lives as long as the entity is active), no closures. */
class ValueCodec implements SessionCodec<ValueEntityStreamIn, ValueEntityStreamOut> {
  constructor(
    private readonly store: ValueStore,
    private readonly service: RuntimeEnvironment["service"],
    private readonly entityId: string,
    private readonly writer: WriterToken,
    private readonly recordedChanges: RecordedChanges | undefined,
  ) {}

  async open(): Promise<{ readonly messages: readonly ValueEntityStreamIn[] }> {
    const { service, entityId } = this;
    const stored = await this.store.getValue(service.persistenceId, entityId);
    const state = create(
      ValueEntityInitStateSchema,
      stored === undefined ? {} : { value: create(AnySchema, { typeUrl: stored.typeUrl, value: stored.value }) },
    );
    return {
      messages: [create(StreamIn, { message: { case: "init", value: create(ValueEntityInitSchema, { serviceName: service.name, entityId, state }) } })],
    };
  }

  command(command: Command): ValueEntityStreamIn {
    return { $typeName: "cloudstate.valueentity.ValueEntityStreamIn", message: { case: "command", value: command } };
  }

  interpret(raw: ValueEntityStreamOut): Interpreted {
    const { service, entityId, store, writer } = this;
    // Asked at each reply: a re-discovery may start or stop the consuming of this entity's changes.
    const recordChange = this.recordedChanges?.has(service.persistenceId) === true;
    const message = raw.message;
    switch (message.case) {
      case "reply": {
        const reply = message.value;
        const outcome = { clientAction: reply.clientAction, sideEffects: reply.sideEffects };
        const action = reply.stateAction?.action;
        if (action === undefined || action.case === undefined) return { kind: "reply", commandId: reply.commandId, outcome };
        if (action.case === "update") {
          const value = action.value.value;
          if (value === undefined) return { kind: "violation", message: `Value entity ${service.name} (${entityId}) sent an update without a value` };
          return {
            kind: "reply",
            commandId: reply.commandId,
            outcome,
            persist: () =>
              store.writeValue({
                kind: "update",
                persistenceId: service.persistenceId,
                entityId,
                value: { typeUrl: value.typeUrl, value: value.value },
                writer,
                recordChange,
              }),
          };
        }
        return {
          kind: "reply",
          commandId: reply.commandId,
          outcome,
          persist: () => store.writeValue({ kind: "delete", persistenceId: service.persistenceId, entityId, writer, recordChange }),
        };
      }
      case "failure":
        return { kind: "failure", commandId: message.value.commandId, description: message.value.description };
      default:
        return { kind: "violation", message: `Value entity ${service.name} (${entityId}) sent an empty message` };
    }
  }
}

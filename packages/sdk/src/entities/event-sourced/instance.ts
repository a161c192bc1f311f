/**
 * One event-sourced entity in memory: its state and sequence number, how it replays its journal,
 * and how a command runs against it. No protocol messages: the runtime and the testkit share it.
 *
 * @module
 */
import type { DescMessage, DescMethod, Message, MessageInitShape } from "@bufbuild/protobuf";
import { clone, isMessage } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "../../context/context.js";
import type { EventSourcedCommandSession } from "../../context/context-impl.js";
import { EventSourcedContextImpl } from "../../context/context-impl.js";
import { packAny, TYPE_URL_PREFIX, unpackAny } from "../../serde/any.js";
import { cloneMessage, createMessage, decodeMessage } from "../../serde/binary.js";
import type { CommandResult } from "../shared/outcome.js";
import { resolveOutcome, resultOfThrown } from "../shared/resolve-result.js";
import type { EventSourcedEntityDefinition } from "./definition.js";

/** An emitted event: as the handler gave it (a message, or an Any) and packed for the journal. */
export interface EmittedEvent {
  readonly message: Message;
  readonly payload: Any;
}

/** The result of an event-sourced command: the answer, its side effects, its events and snapshot. */
export interface EventSourcedResult extends CommandResult {
  /** The events to persist, in order; none when the command failed or crashed. */
  readonly events: readonly EmittedEvent[];
  /** The state after the events, when they reached a multiple of `snapshotEvery`. */
  readonly snapshot?: Any;
}

/** What a command carries besides its request. */
export interface EventSourcedCommandOptions {
  readonly metadata: Metadata;
  readonly signal: AbortSignal;
}

/** An event-sourced entity in memory. */
export interface EventSourcedInstance {
  readonly definition: EventSourcedEntityDefinition;
  readonly entityId: string;
  /** A copy of the current state. */
  readonly state: Message;
  /** The sequence number of the last event applied (0 for a new entity). */
  readonly sequenceNumber: bigint;
  /** Starts from a snapshot (a packed state). Throws when it cannot be read. */
  applySnapshot(snapshot: Any | undefined, sequence: bigint): void;
  /** Replays a journal event. Throws when it cannot be read or has no handler. */
  replayEvent(payload: Any | undefined, sequence: bigint): void;
  /**
   * Runs the handler of `method` with `request`. A failure or a crash keeps no events and no side
   * effects, and leaves the state as it was.
   */
  handle(method: DescMethod, request: Message, options: EventSourcedCommandOptions): Promise<EventSourcedResult>;
}

const ANY_TYPE_NAME = AnySchema.typeName;

/** Creates an entity at its initial state (sequence number 0). */
export function createEventSourcedInstance(definition: EventSourcedEntityDefinition, entityId: string): EventSourcedInstance {
  const schemas = new Map<string, DescMessage>(definition.eventTypes.map((type) => [type.typeName, type]));
  let current: Message = definition.initial();
  let sequence = 0n;

  /** The state after `event` (a decoded message of a declared type, or an Any of another type). */
  function fold(state: Message, event: Message): Message {
    // decodeEvent() turns an Any of a declared type into that type, so an Any here is of no
    // declared type: JSON, primitive, or another message.
    const handler = (event.$typeName === ANY_TYPE_NAME ? definition.otherEvents : definition.eventHandlers.get(event.$typeName)) as
      | ((state: Message, event: unknown) => unknown)
      | undefined;
    if (handler === undefined) {
      const type = event.$typeName === ANY_TYPE_NAME ? (event as Any).typeUrl : event.$typeName;
      throw new TypeError(`${definition.service.typeName} has no event handler for ${type}; declare it in eventTypes and events, or handle it in otherEvents`);
    }
    const returned = handler(state, event);
    if (returned === undefined || returned === null) return state;
    if (isMessage(returned, definition.state)) return returned;
    if (isMessage(returned)) {
      throw new TypeError(`the event handler for ${event.$typeName} returned a ${returned.$typeName}; expected a ${definition.state.typeName} (or nothing)`);
    }
    return createMessage(definition.state, returned as MessageInitShape<DescMessage>);
  }

  /** The typed event in `payload` if its type is declared, else the Any itself. */
  function decodeEvent(payload: Any): Message {
    if (payload.typeUrl.startsWith(TYPE_URL_PREFIX)) {
      const schema = schemas.get(payload.typeUrl.slice(TYPE_URL_PREFIX.length));
      if (schema !== undefined) {
        const decoded = unpackAny(schema, payload);
        if ("error" in decoded) throw new TypeError(decoded.error);
        return decoded.value;
      }
    }
    return payload;
  }

  /** Packs an emitted event and decodes it back, as the journal will hold it. */
  function encodeEvent(event: Message): EmittedEvent {
    if (event.$typeName === ANY_TYPE_NAME) {
      const payload = clone(AnySchema, event as Any);
      if (payload.typeUrl === "") throw new TypeError("emit(): an event Any needs a type URL");
      return { message: decodeEvent(payload), payload };
    }
    const schema = schemas.get(event.$typeName);
    if (schema === undefined) {
      const declared = [...schemas.keys()].join(", ") || "none";
      throw new TypeError(
        `emit(): ${event.$typeName} is not an event type of ${definition.service.typeName} (its eventTypes: ${declared}); pass an Any for other events`,
      );
    }
    const payload = packAny(schema, event);
    return { message: decodeMessage(schema, payload.value), payload };
  }

  return {
    definition,
    entityId,
    get state() {
      return cloneMessage(definition.state, current);
    },
    get sequenceNumber() {
      return sequence;
    },
    applySnapshot(snapshot, at) {
      const state = unpackAny(definition.state, snapshot);
      if ("error" in state) throw new TypeError(state.error);
      current = state.value;
      sequence = at;
    },
    replayEvent(payload, at) {
      if (payload === undefined) throw new TypeError(`event ${at} has no payload`);
      current = fold(current, decodeEvent(payload));
      sequence = at;
    },
    async handle(method, request, options) {
      const handler = definition.handlers[method.localName] as unknown as ((request: Message, ctx: unknown) => unknown) | undefined;
      if (handler === undefined) {
        // eventSourcedEntity() checks every method has a handler; reaching this is an SDK bug.
        throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
      }
      const events: EmittedEvent[] = [];
      // `applied` is the state with the command's events folded in, private to the SDK; `view` is
      // the copy the handler sees. Only events change the entity: a handler that changes its view
      // directly changes nothing, as a replay would not see that change.
      let applied: Message | undefined;
      let view: Message | undefined;
      const session: EventSourcedCommandSession = {
        get state() {
          view ??= cloneMessage(definition.state, applied ?? current);
          return view;
        },
        get sequenceNumber() {
          return sequence + BigInt(events.length);
        },
        emit(event) {
          const emitted = encodeEvent(event);
          applied = fold(applied ?? cloneMessage(definition.state, current), emitted.message);
          view = undefined;
          events.push(emitted);
        },
      };
      const ctx = new EventSourcedContextImpl(options.metadata, options.signal, entityId, session);
      let value: unknown;
      try {
        value = await handler(request, ctx);
      } catch (error) {
        return { ...resultOfThrown(error), events: [] };
      }
      const outcome = resolveOutcome(method.output, value, `the handler of ${method.parent.typeName}.${method.name}`);
      if (outcome.kind === "crash" || outcome.kind === "failure") {
        // Entity failures keep nothing (TCK: "failure actions do not retain emitted events", "do
        // not allow side effects"), so the proxy never needs to restart the entity.
        return { outcome, sideEffects: [], events: [] };
      }
      const before = sequence;
      if (applied !== undefined) current = applied;
      sequence += BigInt(events.length);
      const sideEffects = ctx.takeSideEffects();
      const every = BigInt(definition.snapshotEvery);
      if (events.length > 0 && every > 0n && before / every !== sequence / every) {
        return { outcome, sideEffects, events, snapshot: packAny(definition.state, current) };
      }
      return { outcome, sideEffects, events };
    },
  };
}

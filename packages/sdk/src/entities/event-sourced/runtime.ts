/**
 * Drives `cloudstate.eventsourced.EventSourced/handle` streams: `init` (with the latest snapshot)
 * first, then the journal's events, then commands one at a time, each answered by one reply.
 * Protocol messages in, protocol messages out, no transport.
 *
 * @module
 */
import type { EventSourcedStreamIn, EventSourcedStreamOut } from "@switchboard/protocol";
import { metadataFromProtocol } from "../../context/context-impl.js";
import type { Logger } from "../../logger.js";
import { unpackAny } from "../../serde/any.js";
import { errorMessage } from "../shared/resolve-result.js";
import { failureReply, toEventSourcedReply, topLevelFailure } from "./codec.js";
import type { EventSourcedEntityDefinition } from "./definition.js";
import type { EventSourcedInstance } from "./instance.js";
import { createEventSourcedInstance } from "./instance.js";

/** The `EventSourced` service as a function over protocol messages. */
export interface EventSourcedRuntime {
  /**
   * Handles one entity stream. The output ends when the input ends (the proxy passivated the
   * entity) or after a top-level failure.
   */
  handle(input: AsyncIterable<EventSourcedStreamIn>, signal?: AbortSignal): AsyncIterable<EventSourcedStreamOut>;
}

/**
 * Creates the runtime for `definitions`.
 *
 * @param logger - receives crashed handlers and protocol violations, whose top-level failures the
 *   proxy only logs on its side.
 */
export function createEventSourcedRuntime(definitions: readonly EventSourcedEntityDefinition[], logger: Logger): EventSourcedRuntime {
  const byService = new Map(definitions.map((d) => [d.service.typeName, d]));

  function violation(description: string, commandId = 0n): EventSourcedStreamOut {
    logger.warn(`Event sourced entity protocol error: ${description}`);
    return topLevelFailure(description, commandId);
  }

  return {
    async *handle(input, signal = new AbortController().signal) {
      const it = input[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true) return;
      if (first.value.message.case !== "init") {
        yield violation(`the first message of an event sourced entity stream must be init, got ${first.value.message.case ?? "an empty message"}`);
        return;
      }
      const init = first.value.message.value;
      const definition = byService.get(init.serviceName);
      if (definition === undefined) {
        const known = [...byService.keys()].join(", ") || "none";
        yield violation(`no event sourced entity is registered for service "${init.serviceName}" (event sourced entities served: ${known})`);
        return;
      }
      const where = `${init.serviceName} entity "${init.entityId}"`;
      const entity: EventSourcedInstance = createEventSourcedInstance(definition, init.entityId);
      if (init.snapshot !== undefined) {
        try {
          entity.applySnapshot(init.snapshot.snapshot, init.snapshot.snapshotSequence);
        } catch (error) {
          logger.error(`cannot start ${where} from its snapshot`, error);
          yield violation(`cannot read the snapshot of ${where}: ${errorMessage(error)}`);
          return;
        }
      }

      let commandsStarted = false;
      for (;;) {
        const next = await it.next();
        if (next.done === true) return;
        const message = next.value.message;
        if (message.case === "event") {
          if (commandsStarted) {
            yield violation(`${where} received a journal event after its first command`);
            return;
          }
          try {
            entity.replayEvent(message.value.payload, message.value.sequence);
          } catch (error) {
            logger.error(`cannot replay event ${message.value.sequence} of ${where}`, error);
            yield violation(`cannot replay event ${message.value.sequence} of ${where}: ${errorMessage(error)}`);
            return;
          }
          continue;
        }
        if (message.case !== "command") {
          yield violation(`expected an event or a command, got ${message.case ?? "an empty message"}`);
          return;
        }
        commandsStarted = true;
        const command = message.value;
        const method = definition.service.methods.find((m) => m.name === command.name);
        if (method === undefined) {
          const names = definition.service.methods.map((m) => m.name).join(", ");
          const description = `Unknown method "${command.name}" on event sourced entity ${init.serviceName} (its methods: ${names})`;
          logger.warn(description);
          yield failureReply(command.id, description);
          continue;
        }
        const request = unpackAny(method.input, command.payload);
        if ("error" in request) {
          const description = `Invalid request for ${init.serviceName}.${method.name}: ${request.error}`;
          logger.warn(description);
          yield failureReply(command.id, description);
          continue;
        }
        const metadata = metadataFromProtocol(command.metadata);
        const result = await entity.handle(method, request.value, { metadata, signal });
        const { outcome } = result;
        if (outcome.kind === "crash") {
          logger.error(
            `Event sourced entity handler ${init.serviceName}.${method.name} failed unexpectedly for ${where}; failing the entity stream`,
            outcome.error,
          );
          yield topLevelFailure(`${init.serviceName}.${method.name} failed: ${errorMessage(outcome.error)}`, command.id);
          return;
        }
        yield toEventSourcedReply(command.id, { ...result, outcome });
      }
    },
  };
}

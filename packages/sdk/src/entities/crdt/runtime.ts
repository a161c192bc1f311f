/**
 * Drives `cloudstate.crdt.Crdt/handle` streams: `init` (with the current CRDT as a delta) first,
 * then commands, deltas, deletes and cancellations, handled one at a time in order. Protocol
 * messages in, protocol messages out, no transport.
 *
 * @module
 */
import type { CrdtStreamIn, CrdtStreamOut } from "@switchboard/protocol";
import { metadataFromProtocol } from "../../context/context-impl.js";
import type { Logger } from "../../logger.js";
import { unpackAny } from "../../serde/any.js";
import { errorMessage } from "../shared/resolve-result.js";
import { failureReply, toCrdtStreamOut, topLevelFailure } from "./codec.js";
import type { CrdtEntityDefinition } from "./definition.js";
import type { CrdtInstance, CrdtOutput } from "./instance.js";
import { createCrdtInstance } from "./instance.js";

/** The `Crdt` service as a function over protocol messages. */
export interface CrdtRuntime {
  /**
   * Handles one entity stream. The output ends when the input ends (the proxy passivated or
   * deleted the entity) or after a crash.
   */
  handle(input: AsyncIterable<CrdtStreamIn>, signal?: AbortSignal): AsyncIterable<CrdtStreamOut>;
}

/**
 * Creates the runtime for `definitions`.
 *
 * @param logger - receives crashed handlers and protocol violations.
 */
export function createCrdtRuntime(definitions: readonly CrdtEntityDefinition[], logger: Logger): CrdtRuntime {
  const byService = new Map(definitions.map((d) => [d.service.typeName, d]));

  function violation(description: string, commandId = 0n): CrdtStreamOut {
    logger.warn(`CRDT entity protocol error: ${description}`);
    return topLevelFailure(description, commandId);
  }

  return {
    async *handle(input, signal = new AbortController().signal) {
      const it = input[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true) return;
      if (first.value.message.case !== "init") {
        yield violation(`the first message of a CRDT entity stream must be init, got ${first.value.message.case ?? "an empty message"}`);
        return;
      }
      const init = first.value.message.value;
      const definition = byService.get(init.serviceName);
      if (definition === undefined) {
        const known = [...byService.keys()].join(", ") || "none";
        yield violation(`no CRDT entity is registered for service "${init.serviceName}" (CRDT entities served: ${known})`);
        return;
      }
      const where = `${init.serviceName} entity "${init.entityId}"`;
      const entity: CrdtInstance = createCrdtInstance(definition, init.entityId);
      if (init.delta !== undefined) {
        try {
          entity.init(init.delta);
        } catch (error) {
          logger.error(`cannot start ${where} from its init delta`, error);
          yield violation(`cannot apply the init delta of ${where}: ${errorMessage(error)}`);
          return;
        }
      }

      /** The protocol messages of `outputs`; `undefined` after a crash, which ends the stream. */
      const translate = (outputs: readonly CrdtOutput[], what: string): { messages: CrdtStreamOut[]; crashed: boolean } => {
        const messages: CrdtStreamOut[] = [];
        for (const output of outputs) {
          if (output.kind === "crash") {
            logger.error(`${what} of ${where} failed unexpectedly (command ${output.commandId}); failing the entity stream`, output.error);
            messages.push(topLevelFailure(`${what} failed: ${errorMessage(output.error)}`, output.commandId));
            return { messages, crashed: true };
          }
          if (output.kind === "failure") logger.warn(`${what} of ${where} failed: ${output.description}`);
          messages.push(toCrdtStreamOut(output));
        }
        return { messages, crashed: false };
      };

      try {
        for (;;) {
          const next = await it.next();
          if (next.done === true) return;
          const message = next.value.message;
          let outputs: CrdtOutput[];
          let what: string;
          switch (message.case) {
            case "delta": {
              what = "A delta";
              try {
                outputs = await entity.applyDelta(message.value);
              } catch (error) {
                logger.error(`cannot apply a delta to ${where}`, error);
                yield violation(`cannot apply a delta to ${where}: ${errorMessage(error)}`);
                return;
              }
              break;
            }
            case "delete":
              entity.delete();
              continue;
            case "streamCancelled":
              what = `The cancellation of command ${message.value.id}`;
              outputs = await entity.cancel(message.value.id);
              break;
            case "command": {
              const command = message.value;
              const method = definition.service.methods.find((m) => m.name === command.name);
              if (method === undefined) {
                const names = definition.service.methods.map((m) => m.name).join(", ");
                const description = `Unknown method "${command.name}" on CRDT entity ${init.serviceName} (its methods: ${names})`;
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
              what = `${init.serviceName}.${method.name}`;
              const metadata = metadataFromProtocol(command.metadata);
              outputs = await entity.handleCommand(command.id, method, request.value, { metadata, signal, streamed: command.streamed });
              break;
            }
            default:
              yield violation(`expected a command, delta, delete or stream cancellation, got ${message.case ?? "an empty message"}`);
              return;
          }
          const { messages, crashed } = translate(outputs, what);
          yield* messages;
          if (crashed) return;
        }
      } finally {
        entity.close();
      }
    },
  };
}

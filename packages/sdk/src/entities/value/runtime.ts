/**
 * Drives `cloudstate.valueentity.ValueEntity/handle` streams: `init` first, then commands one at
 * a time, each answered by one reply. Protocol messages in, protocol messages out, no transport.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type { ValueEntityStreamIn, ValueEntityStreamOut } from "@switchboard/protocol";
import { metadataFromProtocol } from "../../context/context-impl.js";
import type { Logger } from "../../logger.js";
import { unpackAny } from "../../serde/any.js";
import { errorMessage } from "../shared/resolve-result.js";
import { failureReply, toValueEntityReply, topLevelFailure } from "./codec.js";
import type { ValueEntityDefinition } from "./definition.js";
import { createValueEntityInstance } from "./instance.js";

/** The `ValueEntity` service as a function over protocol messages. */
export interface ValueEntityRuntime {
  /**
   * Handles one entity stream. The output ends when the input ends (the proxy passivated the
   * entity) or after a top-level failure.
   */
  handle(input: AsyncIterable<ValueEntityStreamIn>, signal?: AbortSignal): AsyncIterable<ValueEntityStreamOut>;
}

/**
 * Creates the runtime for `definitions`.
 *
 * @param logger - receives crashed handlers and protocol violations, whose top-level failures the
 *   proxy only logs on its side.
 */
export function createValueEntityRuntime(definitions: readonly ValueEntityDefinition[], logger: Logger): ValueEntityRuntime {
  const byService = new Map(definitions.map((d) => [d.service.typeName, d]));

  function violation(description: string, commandId = 0n): ValueEntityStreamOut {
    logger.warn(`Value entity protocol error: ${description}`);
    return topLevelFailure(description, commandId);
  }

  return {
    async *handle(input, signal = new AbortController().signal) {
      const it = input[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true) return;
      if (first.value.message.case !== "init") {
        yield violation(`the first message of a value entity stream must be init, got ${first.value.message.case ?? "an empty message"}`);
        return;
      }
      const init = first.value.message.value;
      const definition = byService.get(init.serviceName);
      if (definition === undefined) {
        const known = [...byService.keys()].join(", ") || "none";
        yield violation(`no value entity is registered for service "${init.serviceName}" (value entities served: ${known})`);
        return;
      }
      let stored: Message | undefined;
      if (init.state?.value !== undefined) {
        const state = unpackAny(definition.state, init.state.value);
        if ("error" in state) {
          yield violation(`cannot read the stored state of ${init.serviceName} entity "${init.entityId}": ${state.error}`);
          return;
        }
        stored = state.value;
      }
      const entity = createValueEntityInstance(definition, init.entityId, stored);

      for (;;) {
        const next = await it.next();
        if (next.done === true) return;
        const message = next.value.message;
        if (message.case !== "command") {
          yield violation(`expected a command, got ${message.case ?? "an empty message"}`);
          return;
        }
        const command = message.value;
        const method = definition.service.methods.find((m) => m.name === command.name);
        if (method === undefined) {
          const names = definition.service.methods.map((m) => m.name).join(", ");
          const description = `Unknown method "${command.name}" on value entity ${init.serviceName} (its methods: ${names})`;
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
            `Value entity handler ${init.serviceName}.${method.name} failed unexpectedly for entity "${init.entityId}"; failing the entity stream`,
            outcome.error,
          );
          yield topLevelFailure(`${init.serviceName}.${method.name} failed: ${errorMessage(outcome.error)}`, command.id);
          return;
        }
        yield toValueEntityReply(command.id, { ...result, outcome });
      }
    },
  };
}

/**
 * Drives `cloudstate.action.ActionProtocol` calls: finds the action and method a command names,
 * decodes the requests, runs the handler and encodes its answers. Protocol messages in, protocol
 * messages out, no transport: the gRPC server and in-process harnesses both use it.
 *
 * @module
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { ActionCommand, ActionResponse } from "@switchboard/protocol";
import { metadataFromProtocol } from "../../context/context-impl.js";
import { CommandFailure } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { unpackAny } from "../../serde/any.js";
import { failureResponse, toActionResponse } from "./codec.js";
import type { ActionDefinition } from "./definition.js";
import { invokeBidiStreaming, invokeClientStreaming, invokeServerStreaming, invokeUnary } from "./invoke.js";

/** The four `ActionProtocol` RPCs, as functions over protocol messages. */
export interface ActionRuntime {
  /** `handleUnary`: one command (service, method, payload, metadata) → one response. */
  handleUnary(command: ActionCommand, signal?: AbortSignal): Promise<ActionResponse>;
  /** `handleStreamedIn`: a header command (service, method, metadata), then payload commands → one response. */
  handleStreamedIn(commands: AsyncIterable<ActionCommand>, signal?: AbortSignal): Promise<ActionResponse>;
  /** `handleStreamedOut`: one command → a stream of responses. */
  handleStreamedOut(command: ActionCommand, signal?: AbortSignal): AsyncIterable<ActionResponse>;
  /** `handleStreamed`: a header command, then payload commands → a stream of responses. */
  handleStreamed(commands: AsyncIterable<ActionCommand>, signal?: AbortSignal): AsyncIterable<ActionResponse>;
}

type Rpc = "handleUnary" | "handleStreamedIn" | "handleStreamedOut" | "handleStreamed";

const RPC_OF_KIND: Record<DescMethod["methodKind"], Rpc> = {
  unary: "handleUnary",
  client_streaming: "handleStreamedIn",
  server_streaming: "handleStreamedOut",
  bidi_streaming: "handleStreamed",
};

type Target = { definition: ActionDefinition; method: DescMethod } | { error: string };

/**
 * Creates the runtime for `definitions`.
 *
 * @param logger - receives crashed handlers (the caller only sees "Unexpected error") and
 *   commands naming unknown services or methods.
 */
export function createActionRuntime(definitions: readonly ActionDefinition[], logger: Logger): ActionRuntime {
  const byService = new Map(definitions.map((d) => [d.service.typeName, d]));

  function resolve(command: ActionCommand, rpc: Rpc): Target {
    const definition = byService.get(command.serviceName);
    if (definition === undefined) {
      const known = [...byService.keys()].join(", ") || "none";
      return { error: `No action is registered for service "${command.serviceName}" (actions served: ${known})` };
    }
    const method = definition.service.methods.find((m) => m.name === command.name);
    if (method === undefined) {
      const names = definition.service.methods.map((m) => m.name).join(", ");
      return { error: `Unknown method "${command.name}" on action ${command.serviceName} (its methods: ${names})` };
    }
    const expected = RPC_OF_KIND[method.methodKind];
    if (expected !== rpc) {
      return {
        error: `${command.serviceName}.${command.name} is a ${method.methodKind} method; it is called with ${expected}, not ${rpc}`,
      };
    }
    return { definition, method };
  }

  function rejected(error: string): ActionResponse {
    logger.warn(error);
    return failureResponse(error);
  }

  function crashLogger(method: DescMethod): (error: unknown) => void {
    return (error) => logger.error(`Action handler ${method.parent.typeName}.${method.name} failed unexpectedly`, error);
  }

  function decode(method: DescMethod, command: ActionCommand): { value: Message } | { error: string } {
    const result = unpackAny(method.input, command.payload);
    return "error" in result ? { error: `Invalid request for ${method.parent.typeName}.${method.name}: ${result.error}` } : result;
  }

  /** The requests of a streamed call: the header's payload if it has one (lenient), then each later command's. */
  async function* requests(method: DescMethod, header: ActionCommand, rest: AsyncIterator<ActionCommand>): AsyncGenerator<Message> {
    const commands: ActionCommand[] = header.payload === undefined ? [] : [header];
    for (;;) {
      const command = commands.shift() ?? (await nextOrUndefined(rest));
      if (command === undefined) return;
      const decoded = decode(method, command);
      // A bad payload mid-stream reaches the handler's loop as a failure it may catch.
      if ("error" in decoded) throw new CommandFailure(decoded.error);
      yield decoded.value;
    }
  }

  return {
    async handleUnary(command, signal = new AbortController().signal) {
      const target = resolve(command, "handleUnary");
      if ("error" in target) return rejected(target.error);
      const request = decode(target.method, command);
      if ("error" in request) return rejected(request.error);
      const metadata = metadataFromProtocol(command.metadata);
      const result = await invokeUnary(target.definition, target.method, request.value, { metadata, signal });
      return toActionResponse(result, crashLogger(target.method));
    },

    async handleStreamedIn(commands, signal = new AbortController().signal) {
      const it = commands[Symbol.asyncIterator]();
      const header = await nextOrUndefined(it);
      if (header === undefined) return rejected("The handleStreamedIn call ended before its first command");
      const target = resolve(header, "handleStreamedIn");
      if ("error" in target) return rejected(target.error);
      const metadata = metadataFromProtocol(header.metadata);
      const result = await invokeClientStreaming(target.definition, target.method, requests(target.method, header, it), {
        metadata,
        signal,
      });
      return toActionResponse(result, crashLogger(target.method));
    },

    async *handleStreamedOut(command, signal = new AbortController().signal) {
      const target = resolve(command, "handleStreamedOut");
      if ("error" in target) {
        yield rejected(target.error);
        return;
      }
      const request = decode(target.method, command);
      if ("error" in request) {
        yield rejected(request.error);
        return;
      }
      const metadata = metadataFromProtocol(command.metadata);
      const onCrash = crashLogger(target.method);
      for await (const result of invokeServerStreaming(target.definition, target.method, request.value, { metadata, signal })) {
        yield toActionResponse(result, onCrash);
        // A thrown failure or a crash ends the call (a failure ends a streamed call, docs/protocol.md#actions).
        if (result.outcome.kind === "crash") return;
      }
    },

    async *handleStreamed(commands, signal = new AbortController().signal) {
      const it = commands[Symbol.asyncIterator]();
      const header = await nextOrUndefined(it);
      if (header === undefined) return;
      const target = resolve(header, "handleStreamed");
      if ("error" in target) {
        yield rejected(target.error);
        return;
      }
      const metadata = metadataFromProtocol(header.metadata);
      const onCrash = crashLogger(target.method);
      const results = invokeBidiStreaming(target.definition, target.method, requests(target.method, header, it), {
        metadata,
        signal,
      });
      for await (const result of results) {
        yield toActionResponse(result, onCrash);
        if (result.outcome.kind === "crash") return;
      }
    },
  };
}

async function nextOrUndefined<T>(it: AsyncIterator<T>): Promise<T | undefined> {
  const next = await it.next();
  return next.done === true ? undefined : next.value;
}

import { create } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import {
  type ActionCommand,
  ActionCommandSchema,
  ActionProtocol,
  type ActionResponse,
  type ClientAction,
  type Metadata,
  type MetadataEntry,
  MetadataSchema,
  type SideEffect,
} from "@switchboard/protocol";
import { ENTITY_KIND_LABEL } from "../descriptors/entity-types.js";
import { extractEntityId } from "../descriptors/entity-key.js";
import type { EntityServiceModel, MethodModel } from "../descriptors/service-model.js";
import type { EntityRuntime } from "../entities/shared/types.js";
import { Code, codeName, SwitchboardError } from "../errors/index.js";
import { AsyncQueue } from "../internal/async-queue.js";
import type { Logger } from "../observability/logger.js";
import { NO_TRACER, type Tracer } from "../observability/tracer.js";
import type { UserFunctionClient } from "../user-function/client.js";
import type { Dispatcher, Invocation, ModelSource, Reply } from "./types.js";

/** Options of {@link createRouter}. */
export interface RouterOptions {
  models: ModelSource;
  client: UserFunctionClient;
  /** The runtime of a stateful service, or undefined when its entity type is not built. */
  runtimeFor(service: EntityServiceModel): EntityRuntime | undefined;
  reportError(message: string): void;
  relayTimeoutMs: number;
  logger: Logger;
  /** Traces forwards and side effects as spans linked to the call that caused them (default: off). */
  tracer?: Tracer;
}

/** A call as the router processes it, including forwards and side effects. */
interface Call {
  readonly method: MethodModel;
  readonly payload: Any;
  readonly metadata: readonly MetadataEntry[];
  readonly signal: AbortSignal | undefined;
  readonly deadline: number | undefined;
  /** How we got here, for reportError texts: e.g. `forwarded from a.B/C`. */
  readonly chain: readonly string[];
}

const NEVER_ABORTED = new AbortController().signal;

function metadataOf(entries: readonly MetadataEntry[]): Metadata {
  return create(MetadataSchema, { entries: [...entries] });
}

/**
 * Dispatches calls to Actions and entity runtimes and post-processes every answer
 * (docs/protocol.md#replies-forwards-and-side-effects): side effects first (synchronous ones awaited in order, the others
 * fire-and-forget, results ignored), then a forward (routed like a fresh call, its
 * reply becomes the client's), a reply, or a failure (UNKNOWN with its description).
 * Effects run here, outside the entity's command queue, so an entity forwarding to
 * itself cannot deadlock.
 */
export function createRouter(options: RouterOptions): Dispatcher {
  const { models, client, logger } = options;
  const tracer = options.tracer ?? NO_TRACER;

  /** Runs a forward or a side effect, in a span of its own linked to its cause when tracing. */
  function invokeTraced(call: Call, origin: "forward" | "side-effect"): Promise<Reply> {
    if (!tracer.enabled) return invokeUnary(call);
    const span = tracer.startCall(call.method.service.name, call.method.name, "internal", call.metadata, origin);
    return span
      .run(() => invokeUnary({ ...call, metadata: span.metadata }))
      .then(
        (reply) => {
          span.end("OK");
          return reply;
        },
        (error: unknown) => {
          span.end(codeName(error instanceof SwitchboardError ? error.code : Code.Unknown), (error as Error).message);
          throw error;
        },
      );
  }

  function deadlineOf(call: Call): number {
    const relay = Date.now() + options.relayTimeoutMs;
    return call.deadline === undefined ? relay : Math.min(call.deadline, relay);
  }

  function actionCommand(call: Call, withPayload: boolean): ActionCommand {
    return create(ActionCommandSchema, {
      serviceName: call.method.service.name,
      name: call.method.name,
      ...(withPayload ? { payload: call.payload } : {}),
      metadata: metadataOf(call.metadata),
    });
  }

  /** Finds the method a forward or side effect names, or reports the user function's mistake. */
  function resolveTarget(serviceName: string, commandName: string, what: string, call: Call): MethodModel {
    const method = models.current()?.services.get(serviceName)?.methods.get(commandName);
    if (method !== undefined) return method;
    const chain = [`${what} of ${call.method.service.name}/${call.method.name}`, ...call.chain].join(", ");
    const message = `${what === "forward" ? "Forward" : "Side effect"} to unknown service method ${serviceName}/${commandName} (${chain})`;
    options.reportError(message);
    throw new SwitchboardError(message, Code.Internal);
  }

  async function runSideEffects(effects: readonly SideEffect[], call: Call): Promise<void> {
    for (const effect of effects) {
      let target: MethodModel;
      try {
        target = resolveTarget(effect.serviceName, effect.commandName, "side effect", call);
      } catch (error) {
        // A side effect's failure never changes the reply.
        logger.warn("side effect dropped", { error: (error as Error).message });
        continue;
      }
      const next: Call = {
        method: target,
        payload: effect.payload ?? create(AnySchema, { typeUrl: target.inputTypeUrl }),
        metadata: effect.metadata?.entries ?? [],
        signal: undefined,
        deadline: undefined,
        chain: [`side effect of ${call.method.service.name}/${call.method.name}`, ...call.chain],
      };
      const run = invokeTraced(next, "side-effect").then(
        () => undefined,
        (error: unknown) => logger.warn("side effect failed", { target: `${target.service.name}/${target.name}`, error: (error as Error).message }),
      );
      if (effect.synchronous) await run;
    }
  }

  /** Applies effects and the client action of one answer; resolves to the client's reply. */
  async function settle(clientAction: ClientAction | undefined, sideEffects: readonly SideEffect[], call: Call): Promise<Reply> {
    if (sideEffects.length > 0) await runSideEffects(sideEffects, call);
    const action = clientAction?.action;
    switch (action?.case) {
      case "reply":
        return { payload: action.value.payload, metadata: action.value.metadata?.entries ?? [] };
      case "forward": {
        const forward = action.value;
        const target = resolveTarget(forward.serviceName, forward.commandName, "forward", call);
        return invokeTraced(
          {
            method: target,
            payload: forward.payload ?? create(AnySchema, { typeUrl: target.inputTypeUrl }),
            metadata: forward.metadata?.entries ?? [],
            signal: call.signal,
            deadline: call.deadline,
            chain: [`forwarded from ${call.method.service.name}/${call.method.name}`, ...call.chain],
          },
          "forward",
        );
      }
      case "failure":
        throw new SwitchboardError(action.value.description, Code.Unknown);
      default:
        return { payload: undefined };
    }
  }

  function settleActionResponse(response: ActionResponse, call: Call): Promise<Reply> {
    const r = response.response;
    const clientAction: ClientAction | undefined = r.case === undefined ? undefined : ({ $typeName: "cloudstate.ClientAction", action: r } as ClientAction);
    return settle(clientAction, response.sideEffects, call);
  }

  /** Invokes any method with one request and resolves to its first reply (forwards, side effects, unary calls). */
  async function invokeUnary(call: Call): Promise<Reply> {
    const { method } = call;
    const service = method.service;
    if (service.kind === "action") {
      if (method.kind === "unary") {
        const response = await client.unary(ActionProtocol.method.handleUnary, actionCommand(call, true), {
          deadline: deadlineOf(call),
          ...(call.signal ? { signal: call.signal } : {}),
        });
        return settleActionResponse(response, call);
      }
      for await (const reply of invokeActionStream(call, single(call.payload))) return reply;
      return { payload: undefined };
    }
    const runtime = options.runtimeFor(service);
    if (runtime === undefined) {
      throw new SwitchboardError(
        `${ENTITY_KIND_LABEL[service.kind]} services are not supported yet by this Switchboard build (${service.name}/${method.name})`,
        Code.Unimplemented,
      );
    }
    const id = extractEntityId(call.payload.value, method.keyFields, method.input.typeName);
    if (id.error) throw id.error;
    const outcome = await runtime.handle({
      method,
      entityId: id.value,
      payload: call.payload,
      ...(call.signal ? { signal: call.signal } : {}),
    });
    return settle(outcome.clientAction, outcome.sideEffects, call);
  }

  /** Streamed Action calls: handleStreamedIn / handleStreamedOut / handleStreamed. */
  function invokeActionStream(call: Call, requests: AsyncIterable<Any>): AsyncIterable<Reply> {
    const { method } = call;
    const signal = call.signal ?? NEVER_ABORTED;
    const replies = new AsyncQueue<Promise<Reply>>();
    let ufDone = false;
    const handlers = {
      onMessage(response: ActionResponse) {
        const settled = settleActionResponse(response, call);
        settled.catch(() => {}); // observed by the consumer, in order
        replies.push(settled);
      },
      onEnd(error: SwitchboardError | undefined) {
        ufDone = true;
        if (error) replies.fail(signal.aborted ? new SwitchboardError("call cancelled by the client", Code.Canceled) : error);
        else replies.end();
      },
    };
    const opts = { signal, ...(call.deadline !== undefined ? { deadline: call.deadline } : {}) };
    let stream: ReturnType<UserFunctionClient["stream"]>;
    if (method.kind === "server_streaming") {
      stream = client.stream(ActionProtocol.method.handleStreamedOut, handlers, { ...opts, first: actionCommand(call, true) });
    } else {
      const rpc = method.kind === "client_streaming" ? ActionProtocol.method.handleStreamedIn : ActionProtocol.method.handleStreamed;
      const duplex = client.stream(rpc as typeof ActionProtocol.method.handleStreamed, handlers, opts);
      stream = duplex;
      // The header message goes out as soon as the call starts, before any request.
      duplex.send(actionCommand(call, false));
      void (async () => {
        try {
          for await (const payload of requests) duplex.send(create(ActionCommandSchema, { payload }));
          duplex.end();
        } catch {
          duplex.cancel();
        }
      })();
    }
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const settled of replies) {
            const reply = await settled;
            if (reply.payload !== undefined) yield reply;
          }
        } finally {
          if (!ufDone) stream.cancel();
        }
      },
    };
  }

  function toCall(invocation: Invocation, payload: Any): Call {
    return {
      method: invocation.method,
      payload,
      metadata: invocation.method.service.kind === "action" ? invocation.metadata : [],
      signal: invocation.signal,
      deadline: invocation.deadline,
      chain: [],
    };
  }

  function wrap(method: MethodModel, bytes: Uint8Array): Any {
    return create(AnySchema, { typeUrl: method.inputTypeUrl, value: bytes });
  }

  return {
    runSideEffects(effects, origin) {
      return runSideEffects(effects, { method: origin, payload: create(AnySchema), metadata: [], signal: undefined, deadline: undefined, chain: [] });
    },
    async deliver(method, payload, metadata, signal) {
      const call: Call = { method, payload, metadata, signal, deadline: undefined, chain: [] };
      if (method.service.kind === "action" && method.kind !== "unary") {
        const replies: Reply[] = [];
        for await (const reply of invokeActionStream(call, single(payload))) replies.push(reply);
        return replies;
      }
      const reply = await invokeUnary(call);
      return reply.payload === undefined ? [] : [reply];
    },
    unary(invocation, request) {
      return invokeUnary(toCall(invocation, wrap(invocation.method, request)));
    },
    stream(invocation, requests) {
      const { method } = invocation;
      if (method.service.kind !== "action") {
        const runtime = options.runtimeFor(method.service);
        if (runtime?.handleStreamed !== undefined && method.kind === "server_streaming") {
          const streamed = runtime.handleStreamed.bind(runtime);
          return {
            async *[Symbol.asyncIterator]() {
              let first: Uint8Array | undefined;
              for await (const bytes of requests) {
                first = bytes;
                break;
              }
              if (first === undefined) throw new SwitchboardError(`${method.path} needs one request message`, Code.Internal);
              const call = toCall(invocation, wrap(method, first));
              const id = extractEntityId(first, method.keyFields, method.input.typeName);
              if (id.error) throw id.error;
              for await (const outcome of streamed({ method, entityId: id.value, payload: call.payload, signal: invocation.signal })) {
                const reply = await settle(outcome.clientAction, outcome.sideEffects, call);
                if (reply.payload !== undefined) yield reply;
              }
            },
          };
        }
        return {
          // biome-ignore lint/correctness/useYield: fails before yielding
          async *[Symbol.asyncIterator]() {
            throw new SwitchboardError(
              `streamed calls to ${ENTITY_KIND_LABEL[method.service.kind]} ${method.service.name}/${method.name} are not supported yet`,
              Code.Unimplemented,
            );
          },
        };
      }
      if (method.kind === "server_streaming") {
        return {
          async *[Symbol.asyncIterator]() {
            let first: Uint8Array | undefined;
            for await (const bytes of requests) {
              first = bytes;
              break;
            }
            if (first === undefined) throw new SwitchboardError(`${method.path} needs one request message`, Code.Internal);
            yield* invokeActionStream(toCall(invocation, wrap(method, first)), single(wrap(method, first)));
          },
        };
      }
      const payloads = mapAsync(requests, (bytes) => wrap(method, bytes));
      return invokeActionStream(toCall(invocation, create(AnySchema, { typeUrl: method.inputTypeUrl })), payloads);
    },
  };
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, fn: (value: T) => U): AsyncIterable<U> {
  for await (const value of source) yield fn(value);
}

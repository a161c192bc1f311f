import { create } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import type { ClientAction, MetadataEntry, SideEffect } from "@switchboard/protocol";
import type { Forwarder, Placement, PlacementDecision, RemoteCommand } from "../cluster/types.js";
import { extractEntityId } from "../descriptors/entity-key.js";
import type { MethodModel } from "../descriptors/service-model.js";
import { kindModule } from "../entities/registry.js";
import type { EffectRunner, EntityCommand, EntityOutcome, EntityRuntime } from "../entities/shared/types.js";
import { Code, codeName, SwitchboardError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import { NO_TRACER, type Tracer } from "../observability/tracer.js";
import type { DeploymentSource, Dispatcher, Reply } from "./types.js";
import type { CallSignal } from "../internal/call-signal.js";

/** Options of {@link createRouter}. */
export interface RouterOptions {
  /** The current deployment: model and runtimes. */
  readonly deployments: DeploymentSource;
  /** Where an entity runs. */
  readonly placement: Placement;
  /** Sends commands for remote entities. */
  readonly forwarder: Forwarder;
  reportError(message: string): void;
  readonly logger: Logger;
  /** Traces forwards and side effects as spans linked to the call that caused them (default: off). */
  readonly tracer?: Tracer;
}

/** A call as the router processes it, including forwards and side effects. */
interface Call {
  readonly method: MethodModel;
  readonly payload: Any;
  readonly metadata: readonly MetadataEntry[];
  readonly signal: CallSignal | undefined;
  readonly deadline: number | undefined;
  /** How we got here, for reportError texts: e.g. `forwarded from a.B/C`. */
  readonly chain: readonly string[];
}

/** Who asks for side effects or a forward, for messages: `a.B/C` and how that call came about. */
interface Origin {
  readonly where: string;
  readonly chain: readonly string[];
}

const originOf = (call: Call): Origin => ({ where: `${call.method.service.name}/${call.method.name}`, chain: call.chain });

/** The router: the {@link Dispatcher} for ingress and eventing, and the {@link EffectRunner} for entities. */
export interface Router extends Dispatcher, EffectRunner {}

/**
 * Routes every call: resolves its target, asks the placement where it runs (for keyed
 * kinds, once the entity id is read), dispatches it (to the local runtime or through the
 * forwarder), then settles the answer: side effects first (synchronous ones awaited in
 * order, the others fire-and-forget, results ignored), then a forward (routed like a
 * fresh call, its reply becomes the client's), a reply, or a failure (UNKNOWN with its
 * description). Effects run here, outside the entity's command queue, so an entity
 * forwarding to itself cannot deadlock.
 */
export function createRouter(options: RouterOptions): Router {
  const { deployments, placement, forwarder, logger } = options;
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

  function runtimeOf(method: MethodModel): EntityRuntime {
    const service = method.service;
    const runtime = deployments.current()?.runtimeFor(service.name);
    if (runtime === undefined) {
      if (deployments.current() === undefined) throw new SwitchboardError("the user function is not discovered yet", Code.Unavailable);
      const module = kindModule(service.kind);
      throw new SwitchboardError(
        module.createRuntime === undefined
          ? `${module.label} services are not supported yet by this Switchboard build (${service.name}/${method.name})`
          : `${service.name} is no longer served by the user function`,
        Code.Unimplemented,
      );
    }
    return runtime;
  }

  /** Finds the method a forward or side effect names, or reports the user function's mistake. */
  function resolveTarget(serviceName: string, commandName: string, what: string, origin: Origin): MethodModel {
    const method = deployments.current()?.model.services.get(serviceName)?.methods.get(commandName);
    if (method !== undefined) return method;
    const chain = [`${what} of ${origin.where}`, ...origin.chain].join(", ");
    const message = `${what === "forward" ? "Forward" : "Side effect"} to unknown service method ${serviceName}/${commandName} (${chain})`;
    options.reportError(message);
    throw new SwitchboardError(message, Code.Internal);
  }

  async function runSideEffects(effects: readonly SideEffect[], origin: Origin): Promise<void> {
    for (const effect of effects) {
      let target: MethodModel;
      try {
        target = resolveTarget(effect.serviceName, effect.commandName, "side effect", origin);
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
        chain: [`side effect of ${origin.where}`, ...origin.chain],
      };
      const run = invokeTraced(next, "side-effect").then(
        () => undefined,
        (error: unknown) => logger.warn("side effect failed", { target: `${target.service.name}/${target.name}`, error: (error as Error).message }),
      );
      if (effect.synchronous) await run;
    }
  }

  /**
   * Applies effects and the client action of one answer: the client's reply, at once for a
   * plain reply without side effects (the common case: no promise of its own), else a promise.
   */
  function settle(answer: EntityOutcome, call: Call): Reply | Promise<Reply> {
    if (answer.sideEffects.length > 0) return runSideEffects(answer.sideEffects, originOf(call)).then(() => act(answer.clientAction, call));
    return act(answer.clientAction, call);
  }

  /** The client's reply to a client action (a forward runs the target). */
  function act(clientAction: ClientAction | undefined, call: Call): Reply | Promise<Reply> {
    const action = clientAction?.action;
    switch (action?.case) {
      case "reply":
        return { payload: action.value.payload, metadata: action.value.metadata?.entries ?? [] };
      case "forward": {
        const forward = action.value;
        const target = resolveTarget(forward.serviceName, forward.commandName, "forward", originOf(call));
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

  function commandOf(call: Call, entityId: string): EntityCommand {
    return {
      method: call.method,
      entityId,
      payload: call.payload,
      ...(call.signal ? { signal: call.signal } : {}),
      ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
      ...(call.method.service.kind === "action" ? { metadata: call.metadata } : {}),
    };
  }

  function remoteOf(command: EntityCommand): RemoteCommand {
    return {
      service: command.method.service.name,
      method: command.method.name,
      entityId: command.entityId,
      payload: command.payload,
      ...(command.deadline !== undefined ? { deadline: command.deadline } : {}),
      ...(command.signal ? { signal: command.signal } : {}),
    };
  }

  /**
   * Where one command runs: `run` gets the local runtime and the command with its writer,
   * `remote` the node that owns the entity. Keyed kinds read the entity id first.
   */
  function place<T>(
    call: Call,
    key: Uint8Array,
    run: (runtime: EntityRuntime, command: EntityCommand) => T,
    remote: (node: { nodeId: string; address: string }, command: RemoteCommand) => T,
  ): T | Promise<T> {
    const runtime = runtimeOf(call.method);
    if (!kindModule(call.method.service.kind).keyed) return run(runtime, commandOf(call, ""));
    const id = extractEntityId(key, call.method.keyFields, call.method.input.typeName);
    if (id.error) throw id.error;
    const command = commandOf(call, id.value);
    const decision = placement.locate(call.method.service, id.value, {
      ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
      ...(call.signal ? { signal: call.signal } : {}),
    });
    // A single node (and a cluster node that knows the shard) decides at once: no await.
    const go = (decision: PlacementDecision): T => {
      switch (decision.kind) {
        case "local":
          return run(runtime, { ...command, writer: decision.writer });
        case "remote":
          return remote(decision, remoteOf(command));
        case "unavailable":
          throw new SwitchboardError(decision.reason, Code.Unavailable);
      }
    };
    return decision instanceof Promise ? decision.then(go) : go(decision);
  }

  /** Invokes any method with one request and resolves to its first reply (forwards, side effects, unary calls). */
  function invokeUnary(call: Call): Promise<Reply> {
    let outcome: Promise<EntityOutcome> | Promise<Promise<EntityOutcome>>;
    try {
      outcome = place(
        call,
        call.payload.value,
        (runtime, command) => runtime.handle(command),
        (node, command) => forwarder.forward(node, command),
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(outcome).then((answer) => settle(answer, call));
  }

  /** A streamed call: the outcome of every message the user function sends, settled in order; replies without a payload are not sent. */
  async function* invokeStreamed(call: Call, key: Uint8Array, requests: AsyncIterable<Any> | undefined): AsyncIterable<Reply> {
    const outcomes = await place(
      call,
      key,
      (runtime, command) => {
        if (runtime.handleStreamed === undefined) {
          const module = kindModule(call.method.service.kind);
          throw new SwitchboardError(
            `streamed calls to ${module.label} ${call.method.service.name}/${call.method.name} are not supported yet`,
            Code.Unimplemented,
          );
        }
        return runtime.handleStreamed(command, requests);
      },
      (node, command) => forwarder.forwardStreamed(node, command),
    );
    for await (const outcome of outcomes) {
      const reply = await settle(outcome, call);
      if (reply.payload !== undefined) yield reply;
    }
  }

  function callOf(method: MethodModel, payload: Any, metadata: readonly MetadataEntry[], signal: CallSignal | undefined, deadline: number | undefined): Call {
    return { method, payload, metadata: method.service.kind === "action" ? metadata : [], signal, deadline, chain: [] };
  }

  function wrap(method: MethodModel, bytes: Uint8Array): Any {
    // The plain message object `create(AnySchema, …)` makes, without its reflection (once per call).
    return { $typeName: "google.protobuf.Any", typeUrl: method.inputTypeUrl, value: bytes };
  }

  async function firstOf(method: MethodModel, requests: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
    for await (const bytes of requests) return bytes;
    throw new SwitchboardError(`${method.path} needs one request message`, Code.Internal);
  }

  return {
    runDetached(effects, source) {
      return runSideEffects(effects, { where: source, chain: [] });
    },
    async deliver(method, payload, metadata, signal) {
      const call = callOf(method, payload, metadata, signal, undefined);
      if (method.kind === "unary") {
        const reply = await invokeUnary(call);
        return reply.payload === undefined ? [] : [reply];
      }
      const replies: Reply[] = [];
      for await (const reply of invokeStreamed(call, payload.value, undefined)) replies.push(reply);
      return replies;
    },
    unary(invocation, request) {
      return invokeUnary(callOf(invocation.method, wrap(invocation.method, request), invocation.metadata, invocation.signal, invocation.deadline));
    },
    stream(invocation, requests) {
      const { method } = invocation;
      const at = (payload: Any) => callOf(method, payload, invocation.metadata, invocation.signal, invocation.deadline);
      if (method.kind === "server_streaming") {
        return {
          async *[Symbol.asyncIterator]() {
            const first = await firstOf(method, requests);
            yield* invokeStreamed(at(wrap(method, first)), first, undefined);
          },
        };
      }
      if (kindModule(method.service.kind).keyed) {
        return {
          // biome-ignore lint/correctness/useYield: fails before yielding
          async *[Symbol.asyncIterator]() {
            throw new SwitchboardError(
              `streamed calls to ${kindModule(method.service.kind).label} ${method.service.name}/${method.name} are not supported yet`,
              Code.Unimplemented,
            );
          },
        };
      }
      const payloads = mapAsync(requests, (bytes) => wrap(method, bytes));
      return invokeStreamed(at(create(AnySchema, { typeUrl: method.inputTypeUrl })), new Uint8Array(), payloads);
    },
  };
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, fn: (value: T) => U): AsyncIterable<U> {
  for await (const value of source) yield fn(value);
}
